"""`make screenshots`: what a learner should see at each stage, as PNG files.

Each stage runs as the tests run it (its own runserver, in-memory layer) and
headless Chrome takes the pictures: the index page, part 1's 404 for a room,
and from part 2 on a room where two windows have chatted. Last, part 5 as
`make serve TLS=1` serves it (nginx, https, wss://), where nginx is installed.
"""

import tempfile
from pathlib import Path

from harness.browser import ChatWindow, bring_to_front, new_profile_dir, start_chrome
from harness.servers import start_stage
from harness.serving import nginx_binary, serve
from harness.stages import PARTS, REPO, Stage

SCREENSHOTS = REPO / "screenshots"
CONVERSATION = [("alice", "Hello, is anyone here?"), ("bob", "Hi Alice!")]


def shoot(driver, window, name):
    bring_to_front(driver, window.handle)
    path = SCREENSHOTS / name
    driver.save_screenshot(str(path))
    print(f"wrote {path.relative_to(REPO)}")


def chat_in_two_windows(driver, server, name, conversation=CONVERSATION):
    window, other = (
        ChatWindow(driver, server.base_url),
        ChatWindow(driver, server.base_url),
    )
    window.open_room("lobby")
    other.open_room("lobby")
    for who, text in conversation:
        (window if who == "alice" else other).post(text)
    lines = [text for _, text in conversation]
    window.wait_for_lines(lines)
    other.wait_for_lines(lines)
    shoot(driver, window, name)
    other.close()
    window.close()


def screenshots_of_part(driver, part, logs: Path):
    with start_stage(Stage(part), logs / f"part_{part}.log") as server:
        window = ChatWindow(driver, server.base_url)
        window.open_index()
        window.find("#room-name-input").send_keys("lobby")
        shoot(driver, window, f"part_{part}-index.png")
        if part == 1:
            window.enter_room("lobby")
            shoot(driver, window, "part_1-room-404.png")
            window.close()
            return
        chat_in_two_windows(driver, server, f"part_{part}-room.png")
        window.close()


def screenshot_served_over_tls(driver, logs: Path):
    """Part 5 behind nginx over https: the address bar would show https, the
    page's socket is wss:// (the certificate is this machine's own)."""
    if not nginx_binary():
        print("nginx is not installed: no screenshot of make serve TLS=1")
        return
    with serve(logs / "served", tls=True) as served:
        # A headless screenshot has no address bar: the chat says where it is.
        where = [
            ("alice", f"This page is {served.room_url('lobby')}"),
            ("bob", f"and its socket {served.socket_url('lobby')}"),
        ]
        chat_in_two_windows(
            driver, served, "part_5-served-tls.png", [*CONVERSATION, *where]
        )


def main():
    SCREENSHOTS.mkdir(exist_ok=True)
    with new_profile_dir() as profile_dir, tempfile.TemporaryDirectory() as logs:
        driver = start_chrome(profile_dir, shell=False)  # what a learner sees
        try:
            for part in PARTS:
                screenshots_of_part(driver, part, Path(logs))
                bring_to_front(driver, driver.window_handles[0])
            screenshot_served_over_tls(driver, Path(logs))
        finally:
            driver.quit()


if __name__ == "__main__":
    main()
