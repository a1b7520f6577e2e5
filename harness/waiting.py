"""Explicit waits, and every time limit of the suite in one place.

A wait polls a condition until it holds, never a fixed sleep. Every limit
below is multiplied by HARNESS_TIME_SCALE (default 1): set it to 3 on a slow
machine rather than editing numbers.
"""

import os
import time

SCALE = float(os.environ.get("HARNESS_TIME_SCALE", "1"))

WAIT = 5 * SCALE  # anything a learner would see "at once"
SERVER_START = 20 * SCALE  # a stage's runserver, or Redis, to listen
# A server to exit after SIGTERM, before it is killed. Most stop in well under
# a second; the tutorial's synchronous consumer on Redis never does if SIGTERM
# comes while a socket is closing (its disconnect waits on a loop that stopped).
SERVER_STOP = 2 * SCALE
SUBPROCESS = 120 * SCALE  # a whole manage.py command (check, test)
TEST_TIMEOUT = 120 * SCALE  # any single test (pytest-timeout)
# What must come before channels_redis's next look at Redis (its brpop_timeout,
# 5 s), which would find a message that was only put aside: never scaled past it.
PROMPT = min(1 * SCALE, 4)
# Only for checks that something does NOT arrive: how long to listen for it.
SILENCE = 0.5 * SCALE
# How long Redis holds every write (CLIENT PAUSE) while clients pile up on a
# server's connections to it: long enough for them all to have posted.
REDIS_HELD = 1 * SCALE
POLL = 0.05  # seconds between two looks at a condition


# Ways to end a wait for a message early, which `make check` adds
# (tools/check.py): once a learner's server has failed in a way it knows, the
# message is not coming. Each is called as such a wait starts, and returns a
# function that names the reason to give up, or returns None.
GIVE_UP_WATCHERS = []


def watch_for_giving_up():
    """For one wait for a message: a function that returns a reason to give
    up, or None (always None outside `make check`)."""
    reasons = [watch() for watch in GIVE_UP_WATCHERS]
    return lambda: next(filter(None, (reason() for reason in reasons)), None)


def wait_for(condition, message, timeout=WAIT, give_up=None):
    """Return condition()'s first truthy value; raise TimeoutError(message)
    once timeout seconds have passed, or as soon as give_up() names a reason.
    An exception from condition() ends the wait at once (a server that died
    need not be waited for)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if give_up and (reason := give_up()):
            raise TimeoutError(f"{message} (gave up: {reason})")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{message} (waited {timeout:g} s)")
        time.sleep(POLL)
