"""python -m tools.compare --part N FOLDER: exit status 0 when there is no
difference, 1 when there is one, 2 when the command line is wrong."""

import argparse
import sys
from pathlib import Path

from harness.stages import PARTS
from harness.tutorial import SETTINGS
from tools.compare.differences import compare_folders
from tools.compare.report import write_report
from tools.compare.versions import generated_by


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", type=int, choices=PARTS, required=True)
    parser.add_argument("project", type=Path, help="the folder that holds manage.py")
    arguments = parser.parse_args()
    project = arguments.project.expanduser().absolute()
    if not (project / "manage.py").is_file():
        parser.error(
            f"{project} has no manage.py: give the folder that holds manage.py, "
            "mysite/ and chat/"
        )
    comparisons = compare_folders(project, arguments.part)
    settings = project / SETTINGS
    version = (
        generated_by(settings.read_text(errors="replace"))
        if settings.is_file()
        else None
    )
    write_report(print, project, arguments.part, comparisons, version)
    sys.exit(1 if any(comparison.differs for comparison in comparisons) else 0)


if __name__ == "__main__":
    main()
