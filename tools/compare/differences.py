"""The learner's folder against a stage, file by file, once both are read as
code (code.py): the files only one side has, and for the others the hunks
where their lines differ.

Where the stage departs from the tutorial on purpose (harness/tutorial.py's
DEPARTURES), a learner who typed the tutorial has the tutorial's lines: each
file is compared with the stage as it is and as the tutorial writes it, and
the closer of the two counts.
"""

import difflib
from dataclasses import dataclass, field
from pathlib import Path

from harness.stages import BEYOND_PART, stage_folder
from harness.tutorial import as_the_tutorial_writes
from tools.compare.code import Code, read_all
from tools.compare.folders import code_files

CONTEXT = 2  # lines shown around each difference


@dataclass
class Hunk:
    lines: list  # (mark, Line): " " both sides, "-" the stage's, "+" yours

    def changed(self, mark):
        return [line for each_mark, line in self.lines if each_mark == mark]


@dataclass
class FileComparison:
    name: str  # relative path, forward slashes
    only_in: str | None = None  # "stage" or "yours" for a file one side lacks
    hunks: list[Hunk] = field(default_factory=list)
    stage: Code | None = None
    yours: Code | None = None
    # Yours has the tutorial's lines where the stage departs from it.
    follows_the_tutorial: bool = False
    earlier: Code | None = None  # part 4's file, when part 5 is compared

    @property
    def differs(self) -> bool:
        return bool(self.only_in or self.hunks)


def compare_folders(project: Path, part: int) -> list[FileComparison]:
    stage, yours = code_files(stage_folder(part)), code_files(project)
    texts = {}
    for name in stage.keys() & yours.keys():
        text = stage[name].read_text()
        texts["stage", name] = (name, text)
        texts["yours", name] = (name, yours[name].read_text(errors="replace"))
        tutorials = as_the_tutorial_writes(name, text)
        if tutorials != text:
            texts["tutorial", name] = (name, tutorials)
        earlier = stage_folder(part - 1) / name
        if part == BEYOND_PART and earlier.is_file():
            texts["earlier", name] = (name, earlier.read_text())
    codes = read_all(texts)
    comparisons = []
    for name in sorted(stage.keys() | yours.keys()):
        if name not in yours:
            comparisons.append(FileComparison(name, only_in="stage"))
        elif name not in stage:
            comparisons.append(FileComparison(name, only_in="yours"))
        else:
            comparisons.append(compare_file(name, codes))
    return comparisons


def compare_file(name, codes) -> FileComparison:
    yours = codes["yours", name]
    candidates = [codes["stage", name]]
    if ("tutorial", name) in codes:
        candidates.append(codes["tutorial", name])
    scored = [
        (changed_lines(stage, yours), index, stage)
        for index, stage in enumerate(candidates)
    ]
    _, index, stage = min(scored, key=lambda each: each[:2])
    return FileComparison(
        name,
        hunks=hunks(stage, yours),
        stage=stage,
        yours=yours,
        follows_the_tutorial=index == 1,
        earlier=codes.get(("earlier", name)),
    )


def matcher(stage: Code, yours: Code):
    return difflib.SequenceMatcher(
        None,
        [line.key for line in stage.lines],
        [line.key for line in yours.lines],
        autojunk=False,
    )


def changed_lines(stage: Code, yours: Code) -> int:
    return sum(
        max(i2 - i1, j2 - j1)
        for tag, i1, i2, j1, j2 in matcher(stage, yours).get_opcodes()
        if tag != "equal"
    )


def hunks(stage: Code, yours: Code) -> list[Hunk]:
    found = []
    for group in matcher(stage, yours).get_grouped_opcodes(CONTEXT):
        lines = []
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                lines += [(" ", line) for line in yours.lines[j1:j2]]
                continue
            lines += [("-", line) for line in stage.lines[i1:i2]]
            lines += [("+", line) for line in yours.lines[j1:j2]]
        found.append(Hunk(lines))
    return found
