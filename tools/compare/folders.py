"""Which files of a folder make compare reads: the code the tutorial has a
learner type (Python and templates), not what running it or an editor leaves
behind, nor a virtual environment kept inside the project."""

import os
from pathlib import Path

COMPARED = (".py", ".html")
SKIPPED_FOLDERS = {"__pycache__", "node_modules", "site-packages"}


def code_files(folder: Path) -> dict[str, Path]:
    """{path relative to folder, with forward slashes: path} of every file
    compared, in order."""
    found = {}
    for top, folders, files in os.walk(folder):
        top = Path(top)
        folders[:] = sorted(name for name in folders if not left_out(top / name))
        for name in files:
            if name.endswith(COMPARED):
                found[(top / name).relative_to(folder).as_posix()] = top / name
    return dict(sorted(found.items()))


def left_out(path: Path) -> bool:
    """A hidden folder, a cache, or a virtual environment."""
    return (
        path.name.startswith(".")
        or path.name in SKIPPED_FOLDERS
        or (path / "pyvenv.cfg").is_file()
    )
