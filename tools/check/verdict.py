"""The lines a learner reads at the end of `make check`: the part, the checks
that passed, each failure with one sentence and the entry to read, and the
file where the tracebacks and the server's log went."""

import sys
import textwrap

from harness.stages import REPO
from harness.troubleshooting import PACKAGES

# The packages as their projects write their names.
NAMES = dict(
    zip(PACKAGES, ("Django", "Channels", "Daphne", "channels_redis"), strict=True)
)


def write_verdict(write, state):
    report = state.report
    shown = report.relative_to(REPO) if report.is_relative_to(REPO) else report
    write("")
    write(f"Your project, checked as part {state.part}: {state.project}")
    if state.found:
        write(wrap(versions_line(state.python, state.found)))
    if state.startup is not None:
        startup_verdict(write, state.startup, shown)
        return
    failed_names = list(dict.fromkeys(failure.name for failure in state.failures))
    passed_names = [n for n in dict.fromkeys(state.passed) if n not in failed_names]
    checked = len(failed_names) + len(passed_names)
    if not checked:
        write("No check ran to the end.")
        write(f"Details: {shown}")
        write("Verdict: NOT YET. The checks did not run.")
        return
    write(
        wrap(
            f"Passed {len(passed_names)} of {checked} checks"
            + (": " + "; ".join(passed_names) + "." if passed_names else ".")
        )
    )
    if not state.failures:
        write(
            f"Verdict: PASS. Your project passes all {checked} checks of part "
            f"{state.part}."
        )
        return
    write(f"Failed {len(failed_names)}:")
    for (anchor, sentence), names in group(state.failures):
        write(wrap("; ".join(names), "  x "))
        write(wrap(sentence, "    Why: "))
        write(
            f"    Fix: {link(anchor)}"
            if anchor
            else "    No entry of TROUBLESHOOTING.md matches what your server "
            "did; see the details below."
        )
    write(f"Tracebacks and your server's log: {shown}")
    first = next((f.anchor for f in state.failures if f.anchor), None)
    write(
        f"Verdict: NOT YET. {len(failed_names)} of {checked} checks of part "
        f"{state.part} failed" + (f"; start with {link(first)}." if first else ".")
    )


def versions_line(python, found):
    """Run with venv/bin/python (Python 3.11.2): Django 5.2.19, Channels ..."""
    python = python or f"this repository's {shown_path(sys.executable)}"
    if "unknown" in found:
        return f"Run with {python}, whose packages could not be listed ({found['unknown']})."
    named = ", ".join(
        f"{NAMES[name]} {found[name] or 'not installed'}" for name in PACKAGES
    )
    return f"Run with {python} (Python {found['python']}): {named}."


def shown_path(path):
    return path.replace(str(REPO) + "/", "", 1)


def startup_verdict(write, startup, shown):
    write(startup.headline)
    if startup.found:
        problem, sentence = startup.found
        write(wrap(sentence, "  x Why: "))
        write(f"    Fix: {link(problem.anchor)}")
    else:
        write("  x No entry of TROUBLESHOOTING.md matches; runserver's last words:")
        for line in startup.last_lines:
            write(f"      {line}")
    write(f"runserver's output: {shown}")
    write("Verdict: NOT YET. Fix this first, then run make check again.")


def group(failures):
    """Failures of one kind together, in the order they came: the first one's
    (anchor, sentence) with the names of the checks."""
    groups = {}
    for failure in failures:
        first, names = groups.setdefault(failure.kind, (failure, []))
        if failure.name not in names:
            names.append(failure.name)
    return [((first.anchor, first.sentence), names) for first, names in groups.values()]


def link(anchor):
    return f"TROUBLESHOOTING.md#{anchor}"


def wrap(text, prefix=""):
    return textwrap.fill(
        text, width=100, initial_indent=prefix, subsequent_indent=" " * len(prefix)
    )
