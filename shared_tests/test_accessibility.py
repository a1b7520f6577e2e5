"""Part 5's pages for everyone: axe-core finds no violation, a screen reader
hears new messages and the connection status, and the keyboard does it all.

axe-core is the copy that axe-selenium-python ships, run in the suite's own
headless Chrome: nothing is downloaded while the tests run. What a screen
reader is given is read from Chrome's own accessibility tree (the DevTools
protocol's Accessibility domain), where assistive technology reads it.
"""

import pytest
from axe_selenium_python import Axe

from harness.browser import bring_to_front, press_enter

# The pages and what the browser makes of them; the channel layer plays no part.
pytestmark = [pytest.mark.since_part(5), pytest.mark.any_layer]

# WCAG 2.0 and 2.1, levels A and AA, and axe's best practices.
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]

# axe.run on those of AXE_TAGS that the installed axe-core has rules for
# (3.1.1, the copy in axe-selenium-python 2.1.6, tags none `wcag21a` and
# refuses a tag it does not know); a failed run is returned, not left hanging.
RUN_AXE = """
const [tags, done] = arguments;
const known = new Set(axe.getRules().flatMap(rule => rule.tags));
axe.run(document, {runOnly: {type: 'tag', values: tags.filter(t => known.has(t))}})
    .then(results => done(results.violations), error => done(String(error)));
"""


def axe_violations(window):
    """axe-core's violations on the page the window shows."""
    bring_to_front(window.driver, window.handle)
    Axe(window.driver).inject()  # the axe.min.js the package ships
    violations = window.driver.execute_async_script(RUN_AXE, AXE_TAGS)
    assert isinstance(violations, list), f"axe-core failed: {violations}"
    return violations


def assert_no_violations(window, page):
    violations = axe_violations(window)
    if violations:
        pytest.fail(
            f"axe-core finds {len(violations)} violation(s) on the {page}:\n"
            + "\n".join(
                f"  {violation['id']} ({violation['impact']}): "
                + ", ".join(" ".join(node["target"]) for node in violation["nodes"])
                for violation in violations
            ),
            pytrace=False,
        )


def live_regions(window):
    """(role, politeness, [its texts]) for each live region in Chrome's
    accessibility tree: what a screen reader announces as it is added."""
    bring_to_front(window.driver, window.handle)
    tree = window.driver.execute_cdp_cmd("Accessibility.getFullAXTree", {})
    nodes = {node["nodeId"]: node for node in tree["nodes"]}

    def texts(node):
        if node["role"]["value"] == "StaticText":
            return [node["name"]["value"]]
        return [
            text for child in node.get("childIds", ()) for text in texts(nodes[child])
        ]

    regions = []
    for node in nodes.values():
        live = {p["name"]: p["value"].get("value") for p in node.get("properties", ())}
        if not node.get("ignored") and live.get("live") in ("polite", "assertive"):
            regions.append((node["role"]["value"], live["live"], texts(node)))
    return regions


def press(window, *keys):
    """Press keys in the element that has focus, as a keyboard does
    (`press(window, "SHIFT", "TAB")` holds Shift down for Tab)."""
    from selenium.webdriver.common.keys import Keys

    bring_to_front(window.driver, window.handle)
    window.driver.switch_to.active_element.send_keys(*(getattr(Keys, k) for k in keys))


def assert_focus_is_visible(window, element_id):
    """The element has focus and shows it: the browser's focus ring, which
    the pages keep (no style of theirs takes the outline away)."""
    assert window.focused_id() == element_id
    shown, ring, outline = window.script(
        "const focused = document.activeElement, style = getComputedStyle(focused);"
        "return [focused.matches(':focus-visible'),"
        " style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0,"
        " style.outline]"
    )
    assert shown, f"#{element_id} has focus but the browser does not show it"
    assert ring, f"#{element_id} shows its focus with no outline: {outline}"


def test_the_index_page_has_no_accessibility_violations(stage, open_window):
    window = open_window()
    window.open_index()
    assert_no_violations(window, "index page")
    window.find("#room-name-input").send_keys("my room")
    press_enter(window.find("#room-name-input"))
    window.wait_until(
        lambda: window.find("#room-name-error").text, "no explanation of the rule"
    )
    assert_no_violations(window, "index page explaining a refused name")


def test_the_room_page_has_no_accessibility_violations(stage, open_window):
    window = open_window()
    window.open_room("axe")
    assert_no_violations(window, "room page")
    window.post("a message in the log")
    window.wait_for_lines(["a message in the log"])
    window.script("chatSocket.send('not JSON')")  # an error in the status
    window.wait_until(lambda: window.find("#chat-status").text, "no error shown")
    assert_no_violations(window, "room page with a message and an error")


def test_new_messages_and_the_status_reach_a_screen_reader(stage, open_window):
    window = open_window()
    window.open_room("live")
    # The status is a live region of its own from the start, as it must be:
    # a region added along with its text is not announced.
    assert window.find("#chat-status").get_attribute("role") == "status"
    assert ("status", "polite", []) in live_regions(window)

    window.post("first")
    window.post("second")
    window.wait_for_lines(["first", "second"])
    # Screen readers announce text added to a live region; a textarea's new
    # value is not announced. So the messages must be added, as text, to one.
    logs = [texts for role, _, texts in live_regions(window) if role == "log"]
    assert logs == [["first", "second"]], (
        f"the messages reach no live log (role log, polite): {live_regions(window)}"
    )

    window.script("chatSocket.send('not JSON')")
    window.wait_until(lambda: window.find("#chat-status").text, "no error shown")
    status = window.find("#chat-status").text
    assert ("status", "polite", [status]) in live_regions(window)


def test_the_index_page_works_from_the_keyboard(stage, open_window):
    window = open_window()
    window.open_index()
    assert window.focused_id() == "room-name-input"
    window.find("#room-name-input").send_keys("keys")
    press(window, "TAB")
    assert_focus_is_visible(window, "room-name-submit")
    press(window, "ENTER")  # the button, from the keyboard
    window.wait_until(lambda: window.path() == "/chat/keys/", "the button did not go")


def test_the_room_page_works_from_the_keyboard(stage, open_window):
    window = open_window()
    window.open_room("keys")
    assert window.focused_id() == "chat-message-input"
    window.find("#chat-message-input").send_keys("sent from the keyboard")
    press(window, "TAB")
    assert_focus_is_visible(window, "chat-message-submit")
    press(window, "SPACE")  # the button, from the keyboard
    window.wait_for_lines(["sent from the keyboard"])
    # Back up the page: the message input, then the log, which the keyboard
    # reaches (to scroll and read it) but cannot change.
    press(window, "SHIFT", "TAB")
    assert window.focused_id() == "chat-message-input"
    press(window, "SHIFT", "TAB")
    assert_focus_is_visible(window, "chat-log")
    window.find("#chat-log").send_keys("typed into the log")
    assert window.chat_lines() == ["sent from the keyboard"]
