"""Explicit waits: poll a condition until it holds, never a fixed sleep."""

from selenium.webdriver.support.wait import WebDriverWait

WAIT = 5  # seconds for anything a learner would see "at once"


def wait_for(condition, message, timeout=WAIT):
    """Return condition()'s first truthy value; fail with message after timeout.

    WebDriverWait polls any callable; it needs no browser for that.
    """
    return WebDriverWait(None, timeout).until(lambda _: condition(), message)
