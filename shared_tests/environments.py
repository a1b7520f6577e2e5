"""A learner's own Python environment, made offline from this one: a virtual
environment of the same interpreter whose site-packages links to each of this
environment's packages but those left out, as if they had never been
installed there. `make check PYTHON=` then runs a project with it, and the
check meets a missing package as a learner does.

Nothing is downloaded or installed (CI has no business on the network beyond
what .ci/run installs): the venv module makes the environment without pip,
in a fraction of a second, and links stand for the packages. A distribution
is left out by the top-level folders and files only it owns, as its RECORD
lists them (Daphne puts a plugin into Twisted's folder: Twisted's stays).
"""

import os
import re
import sysconfig
import venv
from importlib.metadata import distribution, distributions
from pathlib import Path


def python_without(left_out, destination: Path) -> Path:
    """The python of a new environment in destination that has every package
    of this one but the distributions named in left_out."""
    venv.EnvBuilder(with_pip=False, symlinks=os.name != "nt").create(destination)
    paths = {"base": str(destination), "platbase": str(destination)}
    theirs = Path(sysconfig.get_path("purelib", vars=paths))
    ours = Path(sysconfig.get_path("purelib"))
    absent = owned_only_by(left_out)
    for entry in ours.iterdir():
        if entry.name not in absent and not (theirs / entry.name).exists():
            (theirs / entry.name).symlink_to(entry)
    scripts = sysconfig.get_path("scripts", vars=paths)
    return Path(scripts) / ("python.exe" if os.name == "nt" else "python")


def owned_only_by(names):
    """The top-level entries of site-packages that belong to the named
    distributions and to no other."""
    theirs = {top_level(file) for name in names for file in distribution(name).files}
    others = {
        top_level(file)
        for each in distributions()
        if normalized(each.metadata["Name"]) not in map(normalized, names)
        for file in each.files or ()
    }
    return theirs - others


def normalized(name):
    """A distribution's name as pip compares names: channels_redis is channels-redis."""
    return re.sub(r"[-_.]+", "-", name).lower()


def top_level(file):
    return Path(file).parts[0]
