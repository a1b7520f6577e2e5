"""Headless Chrome or Chromium through Selenium, and a learner's view of one chat window.

The browser is found, not assumed: `webdriver.Chrome(options)` lets Selenium
Manager find the installed Chrome or Chromium and its driver (Debian's
/usr/bin/chromium and /usr/bin/chromedriver, Chrome on macOS and Windows).
SE_BROWSER_PATH and SE_CHROMEDRIVER name others; SE_OFFLINE=true keeps
Selenium Manager off the network. Every wait polls a condition
(harness/waiting.py), never a sleep.

Selenium is imported once a browser starts, not with this module: a run that
needs no browser (most `make check` runs, every xdist worker that gets no
browser test) saves the 0.2 s its import costs.
"""

import os
import shutil
import tempfile

from harness.servers import free_port
from harness.waiting import wait_for, watch_for_giving_up

CHROME_FLAGS = (
    "--headless",
    "--no-sandbox",  # Chrome refuses to start as root without it (CI, containers)
    "--disable-gpu",
    "--disable-dev-shm-usage",
    # Nothing but the page under test: no updates, sync or background traffic.
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # Every page in one renderer process: the suite opens hundreds of pages,
    # and with this flag Chrome used 15 % less CPU on the browser tests of
    # parts 3 and 5 (34 processes instead of 107).
    "--renderer-process-limit=1",
)


# Chrome's headless shell: Debian's chromium-headless-shell, or Chrome for
# Testing's chrome-headless-shell on PATH.
HEADLESS_SHELLS = ("/usr/lib/chromium/chromium-headless-shell", "chrome-headless-shell")


def headless_shell():
    """Chrome's headless shell, when one is installed and SE_BROWSER_PATH names
    no other browser: the same Blink and V8 as Chrome, without the browser's
    own windows behind each page. On this repository's machine it started in
    a fifth of Chrome's CPU time and opened a tab in a seventh of it
    (CONTRIBUTING.md)."""
    if os.environ.get("SE_BROWSER_PATH"):
        return None
    return next(filter(None, map(shutil.which, HEADLESS_SHELLS)), None)


def headless_shell_environment() -> dict:
    """Variables that have Selenium Manager give any `webdriver.Chrome()` (part
    4's own tests among them) the headless shell, when there is one."""
    shell = headless_shell()
    return {"SE_BROWSER_PATH": shell} if shell else {}


def start_chrome(profile_dir: str, shell=True):
    """A headless Chrome that opens https pages whose certificate no authority
    signed without a warning: the only https pages it is sent to are this
    repository's own, on 127.0.0.1 (`make serve TLS=1` makes that certificate).
    Chrome's headless shell when there is one (shell=False: Chrome itself)."""
    from selenium import webdriver

    options = webdriver.ChromeOptions()
    for flag in CHROME_FLAGS:
        options.add_argument(flag)
    binary = headless_shell() if shell else None
    if binary:
        # The shell refuses a --user-data-dir; chromedriver gives it a fresh
        # profile of its own, and removes it when the browser quits.
        options.binary_location = binary
    else:
        options.add_argument(f"--user-data-dir={profile_dir}")
    options.add_argument("--window-size=1000,700")
    # Keep the page's console, so a failing test can show it.
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    options.accept_insecure_certs = True
    # chromedriver on a port of the suite's choosing (harness/servers.py says
    # why), not on one Selenium found free among the clients' own.
    service = webdriver.ChromeService(port=free_port())
    return webdriver.Chrome(options=options, service=service)


def new_profile_dir() -> tempfile.TemporaryDirectory:
    return tempfile.TemporaryDirectory(prefix="chrome-profile-")


class ChatWindow:
    """One browser window, used the way a learner uses the chat."""

    def __init__(self, driver, base_url, handle=None):
        """A new window, or the window `handle` that another test left blank."""
        self.driver = driver
        self.base_url = base_url
        if handle is None:
            # A tab, not a window: a new window cost Chrome about a second of
            # CPU to set up, a tab a quarter of that. The driver brings the
            # tab it talks to to the front (bring_to_front).
            driver.switch_to.new_window("tab")
            handle = driver.current_window_handle
            driver.window_in_front = handle
        self.handle = handle

    def _focus(self):
        bring_to_front(self.driver, self.handle)
        return self.driver

    def wait_until(self, condition, message, give_up=None):
        self._focus()
        return wait_for(condition, message, give_up=give_up)

    # --- the index page ---

    def open_path(self, path):
        self._focus().get(self.base_url + path)

    def open_index(self):
        self.open_path("/chat/")

    def enter_room(self, room_name, press="enter"):
        """Type a room name on the index page and press Enter or click the button."""
        self.open_index()
        self.find("#room-name-input").send_keys(room_name)
        if press == "enter":
            press_enter(self.find("#room-name-input"))
        else:
            self.find("#room-name-submit").click()
        room_path = "/chat/" + room_name + "/"
        self.wait_until(
            lambda: self.path() == room_path,
            f"the index page did not go to {room_path}",
        )

    # --- the room page ---

    def open_room(self, room_name):
        self.open_path(f"/chat/{room_name}/")
        self.wait_until_connected()

    def reload(self):
        self._focus().refresh()  # returns once the new page has loaded
        self.wait_until_connected()

    def wait_until_connected(self):
        """Wait for the room page's chatSocket to be OPEN: typing earlier loses it."""
        self.wait_until(
            lambda: (
                self.script(
                    "return typeof chatSocket !== 'undefined' && chatSocket.readyState"
                )
                == 1
            ),
            f"the room page at {self.path()} never opened its WebSocket",
        )

    def post(self, message, press="enter"):
        field = self.find("#chat-message-input")
        field.send_keys(message)
        if press == "enter":
            press_enter(field)
        else:
            self.find("#chat-message-submit").click()

    def chat_lines(self):
        return self.find("#chat-log").get_property("value").splitlines()

    def wait_for_lines(self, expected, who="this window"):
        """Wait until the chat log shows exactly these lines, in this order."""
        expected = list(expected)
        try:
            self.wait_until(
                lambda: self.chat_lines() == expected,
                "",
                give_up=watch_for_giving_up(),
            )
        except Exception:
            raise AssertionError(
                f"{who} should show {expected} in #chat-log, "
                f"but shows {self.chat_lines()}"
            ) from None

    # --- small helpers ---

    def find(self, css):
        from selenium.webdriver.common.by import By

        return self._focus().find_element(By.CSS_SELECTOR, css)

    def script(self, source, *args):
        return self._focus().execute_script(source, *args)

    def path(self):
        """The page's path as the learner typed it (the browser percent-encodes it)."""
        return self.script("return decodeURIComponent(location.pathname)")

    def title(self):
        return self._focus().title

    def focused_id(self):
        return self._focus().switch_to.active_element.get_attribute("id")

    def blank(self):
        """Leave the page, as closing the window would (its socket closes),
        and keep the window for another page."""
        self._focus().get("about:blank")

    def close(self):
        self._focus().close()
        self.driver.window_in_front = None


def bring_to_front(driver, handle):
    """Send the driver's next commands to the window `handle`. A switch is a
    round trip to Chrome, and a wait looks at its window every POLL: the
    driver remembers which window is in front, and stays there."""
    if getattr(driver, "window_in_front", None) != handle:
        driver.switch_to.window(handle)
        driver.window_in_front = handle


def press_enter(element):
    from selenium.webdriver.common.keys import Keys

    element.send_keys(Keys.ENTER)
