"""Copies of a stage folder, as a learner's own project, with one mistake made.

The troubleshooting tests and the `--project` check both need a stage as it
would sit in a learner's folder, sometimes with a small edit. An edit names the
exact text it replaces, so that when a stage changes under it the test fails
saying which edit to update, instead of silently testing something else.
"""

import re
import shutil
from pathlib import Path

from harness.stages import stage_folder

# What a learner's folder would not hold: what running the stage leaves behind.
NOT_COPIED = shutil.ignore_patterns("__pycache__", "*.sqlite3", ".*_cache", "README.md")


def copy_stage(part: int, destination: Path, name="mysite") -> Path:
    """Copy part_N to destination/name: manage.py, mysite/ and chat/ at its top."""
    folder = destination / name
    shutil.copytree(stage_folder(part), folder, ignore=NOT_COPIED)
    return folder


def edit(folder: Path, file: str, old: str, new: str) -> None:
    """Replace the one occurrence of `old` in folder/file with `new`."""
    path = folder / file
    text = path.read_text()
    assert text.count(old) == 1, (
        f"{folder.name}/{file} should contain {old!r} exactly once "
        f"(found {text.count(old)}): the stage changed, update this variant"
    )
    path.write_text(text.replace(old, new))


def edit_pattern(folder: Path, file: str, pattern: str, new: str) -> None:
    """Replace the one match of the regular expression `pattern` with `new`."""
    path = folder / file
    text = path.read_text()
    matches = len(re.findall(pattern, text))
    assert matches == 1, (
        f"{folder.name}/{file} should match {pattern!r} exactly once "
        f"(found {matches}): the stage changed, update this variant"
    )
    path.write_text(re.sub(pattern, lambda _: new, text))


def snapshot(folder: Path) -> dict:
    """Every file under folder with its size and modification time."""
    return {
        str(path.relative_to(folder)): (path.stat().st_size, path.stat().st_mtime_ns)
        for path in sorted(folder.rglob("*"))
    }


def old_channels_metadata(folder: Path) -> Path:
    """A folder whose package metadata says Channels 3.0.5 and Daphne 3.0.2
    (what django/channels#1914 had), to put first on PYTHONPATH: Channels 3
    cannot be installed beside this repository's Channels 4, and a version
    check reads the metadata, as pip does."""
    for name, version in (("channels", "3.0.5"), ("daphne", "3.0.2")):
        info = folder / f"{name}-{version}.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
        )
    return folder
