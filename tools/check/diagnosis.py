"""Naming what went wrong: the entry of TROUBLESHOOTING.md whose symptom the
evidence matches (harness/troubleshooting.py), or, when none does, what the
server did, in plain words (plain_words.py)."""

import re
import time
from contextlib import suppress

from harness.troubleshooting import first_problem
from harness.waiting import wait_for
from tools.check.plain_words import in_plain_words
from tools.check.state import Failure, Startup

SERVER_FAILED = re.compile(r"^Traceback|was never awaited", re.MULTILINE)
DAPHNE_LOOKS_EVERY = 1.0  # seconds: Daphne's application_checker


def startup_problem(findings, part) -> Startup | None:
    """Why the project cannot be checked at all, or None when it can: a
    server that did not start, started as the wrong server, whose Python has
    other versions than the tutorial's, or whose ASGI module fails alone."""
    output = findings.runserver_output
    found = first_problem(findings.versions, output)
    if findings.server is None:
        headline = (
            f"Your server did not start, so none of the checks of part {part} ran."
        )
        return Startup(found, headline, last_lines(output))
    if found:
        headline = (
            f"Your server started, but not as part {part} needs, so no check ran."
        )
        return Startup(found, headline, last_lines(output))
    found = findings.asgi_import_error and first_problem(findings.asgi_import_error)
    if found:
        headline = (
            "runserver starts, but mysite/asgi.py fails when an ASGI server "
            "imports it on its own, so no check ran."
        )
        return Startup(found, headline, last_lines(output))
    return None


def last_lines(text, count=3):
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-count:]


def describe(name, excinfo, log, exchanges) -> Failure:
    """The failure in the learner's terms: the entry its evidence matches, or
    what the server did, from what the check's clients saw (exchanges)."""
    message = first_line(excinfo)
    found = first_problem(f"{excinfo.exconly()}\n{message}", log)
    if found:
        problem, sentence = found
        return Failure(name, message, problem.anchor, sentence, problem.anchor)
    kind, sentence = in_plain_words(excinfo, exchanges)
    return Failure(name, message, None, sentence, kind)


def first_line(excinfo):
    message = re.sub(r"^Message: ", "", str(excinfo.value).strip())
    return message.splitlines()[0] if message else excinfo.typename


def known_mistake_logged(state):
    """A give-up watcher (harness/waiting.py) for a check's wait for a
    message: once the server has failed since the check began (a traceback,
    a coroutine never awaited) in a way TROUBLESHOOTING.md knows, the message
    is not coming, and the check fails about a second later rather than
    after a whole wait. A refusal the server logs, as a hostile client's
    check provokes, is not a failure and ends nothing."""

    def reason():
        logged = state.server_log()
        found = SERVER_FAILED.search(logged) and first_problem(logged)
        if not found:
            return None
        # The failure's whole story first: the diagnosis reads the log once the
        # check has failed, and Daphne logs a consumer's exception up to a
        # second after it, on its next look at the application instances.
        with suppress(TimeoutError):
            wait_for(log_quiet_for(state.server, DAPHNE_LOOKS_EVERY), "a quiet log")
        return f"the server failed: {found[0].anchor}"

    return reason


def log_quiet_for(server, seconds):
    """A condition: true once the server's log has not grown for `seconds`."""
    last = {"size": None, "at": 0.0}

    def quiet():
        size, now = len(server.log()), time.monotonic()
        if size != last["size"]:
            last.update(size=size, at=now)
        return now - last["at"] >= seconds

    return quiet
