"""What make compare prints: what was left out of the comparison, then each
difference file by file, with the tutorial's page and section it belongs to,
or a plain sentence that there is none."""

import difflib
import textwrap

from harness.stages import BEYOND_PART
from harness.tutorial import PAGES
from tools.compare.sections import place_of_file, place_of_hunk

WIDTH = 100  # characters a line of the report holds at most
MISSING, ONLY_YOURS = "missing from your folder", "only in your folder"


def write_report(write, project, part, comparisons, generated_by):
    stage = f"part_{part}"
    write_headline(write, project, part, generated_by)
    differing = [each for each in comparisons if each.differs]
    if not differing:
        up_to = f", up to the end of part {part}" if part < BEYOND_PART else ""
        write(
            wrap(
                f"No difference: your folder holds what the tutorial asks you to type{up_to}."
            )
        )
    else:
        count = (
            f"{len(differing)} files differ" if len(differing) > 1 else "1 file differs"
        )
        write(f'{count} from {stage} ("-" lines are {stage}\'s, "+" lines yours):')
        missing = [each.name for each in differing if each.only_in == "stage"]
        for comparison in differing:
            write("")
            write_file(write, comparison, part, missing)
    followed = [each.name for each in comparisons if each.follows_the_tutorial]
    if followed:
        write("")
        write(
            wrap(
                f"Where {stage} departs from the tutorial on purpose (its README says "
                f"why), your {', '.join(followed)} follow the tutorial: no difference there."
            )
        )


def write_headline(write, project, part, generated_by):
    if part == BEYOND_PART:
        stage = f"part_{part}, which goes beyond the tutorial"
    else:
        stage = f"part_{part}, the end of Tutorial Part {part} ({PAGES[part]})"
    write(wrap(f"Your folder {project} against {stage}."))
    django = f"Django {generated_by}'s startproject" if generated_by else "startproject"
    write(
        wrap(
            "Compared as code: layout, quotes, comments, docstrings, SECRET_KEY and the "
            f"lines {django} writes differently from other Django versions are left out."
        )
    )
    write("")


def write_file(write, comparison, part, missing):
    name = comparison.name
    if comparison.only_in:
        place = place_of_file(name, part, comparison.only_in)
        where = MISSING if comparison.only_in == "stage" else ONLY_YOURS
        # A file of the learner's own may be a stage's file under another name.
        guess = [] if place.section else difflib.get_close_matches(name, missing, n=1)
        also = f" Did you mean {guess[0]}?" if guess else ""
        write(wrap(f"{name}: {where}. {sentence(place)}.{also}"))
        write_link(write, place, "  ")
        return
    write(name)
    if comparison.yours.problem:
        problem = comparison.yours.problem
        write(wrap(f"Your file is {problem}: compared line by line.", "  "))
    shown = None
    for hunk in comparison.hunks:
        place = place_of_hunk(comparison, hunk, part)
        if place != shown:
            write(wrap(str(place), "  "))
            write_link(write, place, "  ")
            shown = place
        else:
            write("    ...")
        opening = statement_above(comparison, hunk)
        if opening:
            write(f"      {opening.shown}")
            write("      ...")
        for mark, line in hunk.lines:
            write(f"    {mark} {line.shown}".rstrip())


def statement_above(comparison, hunk):
    """The first line of the top-level statement that a hunk starts inside
    (CHANNEL_LAYERS = {), when the hunk does not show it."""
    mark, first = hunk.lines[0]
    code = comparison.stage if mark == "-" else comparison.yours
    for start, end, _ in code.statements:
        if start < first.number <= end:
            return next(line for line in code.lines if line.number == start)
    return None


def sentence(place):
    """'Tutorial Part 2 (...), "Write your first consumer" creates it'."""
    text = " ".join(filter(None, [str(place.section or ""), place.note]))
    return text[0].upper() + text[1:]


def write_link(write, place, indent):
    if place.section:
        write(f"{indent}{place.section.url}")


def wrap(text, indent=""):
    return textwrap.fill(
        text, width=WIDTH, initial_indent=indent, subsequent_indent=indent + "  "
    )
