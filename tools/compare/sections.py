"""Where in the tutorial each difference belongs: the page and section whose
code the learner was to type there (harness/tutorial.py), or what else it
is (startproject's own lines, part 5's additions, a file of the learner's)."""

from dataclasses import dataclass

from harness.stages import BEYOND_PART, stage_folder
from harness.tutorial import (
    CREATING_A_PROJECT,
    CREATING_THE_APP,
    EDITED_IN_PLACE,
    REMOVED_FROM_THE_APP,
    SETTINGS,
    SETTINGS_EDITED,
    WRITTEN_WHOLE,
    Section,
    section_at,
)

BEYOND = "part_5's own, beyond the tutorial (part_5/README.md says what it is for)"
GENERATED = "what startproject wrote; the tutorial leaves these lines as they are"


@dataclass(frozen=True)
class Place:
    section: Section | None
    note: str = ""

    def __str__(self) -> str:
        return ": ".join(filter(None, [str(self.section or ""), self.note]))


def place_of_hunk(comparison, hunk, part) -> Place:
    if part == BEYOND_PART and is_part_5s_own(comparison, hunk):
        return Place(None, BEYOND)
    name = comparison.name
    sections = WRITTEN_WHOLE.get(name) or EDITED_IN_PLACE.get(name)
    if sections:
        return Place(section_at(part, sections))
    if name == SETTINGS:
        reached = [
            section_at(part, SETTINGS_EDITED[setting])
            for setting in settings_touched(comparison, hunk)
            if setting in SETTINGS_EDITED
        ]
        reached = [section for section in reached if section]
        if reached:
            return Place(max(reached, key=lambda section: section.part))
    if name.startswith("chat/"):
        return Place(CREATING_THE_APP, "what startapp wrote")
    return Place(CREATING_A_PROJECT, GENERATED)


def is_part_5s_own(comparison, hunk) -> bool:
    """Do the stage's lines of this hunk come from part 5 (not in part 4)?"""
    if comparison.earlier is None:
        return True
    earlier = {line.key for line in comparison.earlier.lines}
    return any(line.key not in earlier for line in hunk.changed("-"))


def settings_touched(comparison, hunk):
    """The names of the settings whose statements hold the hunk's changed lines."""
    for code, mark in ((comparison.stage, "-"), (comparison.yours, "+")):
        numbers = {line.number for line in hunk.changed(mark)}
        for first, last, name in code.statements:
            if name and numbers & set(range(first, last + 1)):
                yield name


def place_of_file(name, part, only_in) -> Place:
    if only_in == "stage":
        if part == BEYOND_PART and not (stage_folder(part - 1) / name).is_file():
            return Place(None, BEYOND)
        sections = WRITTEN_WHOLE.get(name)
        if sections:
            return Place(section_at(part, sections), "creates it")
        return Place(CREATING_A_PROJECT, "startproject or startapp creates it")
    if any(
        name == removed or name.startswith(removed + "/")
        for removed in REMOVED_FROM_THE_APP
    ):
        return Place(CREATING_THE_APP, "has you delete it")
    return Place(None, "the tutorial never writes it")
