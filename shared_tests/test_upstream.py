"""Tripwires for part 5's modules set apart for an upstream project.

Each such module (SET_APART, below) works around what its
upstream does not offer publicly, and records in WRITTEN_AGAINST the upstream
code it relies on: a dotted name and the SHA-256 of its source when the module
was written. Once the installed code differs (an upgrade), the test fails here,
in CI, instead of the patch going wrong in production without a word.
"""

import ast
import hashlib
import importlib
import inspect
import re

import pytest

from harness.stages import REPO

pytestmark = [
    pytest.mark.since_part(5),
    pytest.mark.any_layer,  # about installed code, not about a channel layer
    pytest.mark.repository,  # this repository's modules, not a learner's
]


# Every module of part 5 set apart for an upstream project: each must be
# found with its WRITTEN_AGAINST, so that none goes untripwired.
SET_APART = {
    "chat/channels_patches.py",  # Channels' consumer: the database hop
    "chat/daphne_flow_control.py",  # Daphne's (and autobahn's) flow control
    "chat/daphne_shutdown.py",  # Daphne's shutdown
    "chat/channels_layers.py",  # Channels' in-memory layer
    "chat/channels_redis_patches.py",  # channels_redis's RedisChannelLayer
    "chat/redis_py_patches.py",  # redis-py's connection through Sentinel
}


def written_against(folder):
    """{module path: its WRITTEN_AGAINST} for every module of the stage."""
    found = {}
    for path in sorted(folder.rglob("*.py")):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.Assign) and any(
                getattr(target, "id", None) == "WRITTEN_AGAINST"
                for target in node.targets
            ):
                found[str(path.relative_to(folder))] = ast.literal_eval(node.value)
    return found


def installed(dotted_name):
    """The object a dotted name stands for: the longest module prefix, imported,
    then attributes."""
    parts = dotted_name.split(".")
    for split in range(len(parts), 0, -1):
        try:
            thing = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        for attribute in parts[split:]:
            thing = getattr(thing, attribute)
        return thing
    raise ImportError(dotted_name)


def source_hash(dotted_name):
    return hashlib.sha256(
        inspect.getsource(installed(dotted_name)).encode()
    ).hexdigest()


def test_tripwire_each_patch_relies_on_the_upstream_code_it_was_written_against(
    stage,
):
    patches = written_against(stage.folder)
    missing = SET_APART - set(patches)
    assert not missing, f"modules set apart without WRITTEN_AGAINST: {missing}"
    changed = [
        f"{module}: {name}"
        for module, names in patches.items()
        for name, recorded in names.items()
        if source_hash(name) != recorded
    ]
    assert not changed, (
        f"upstream code changed since these patches were written: {changed}; "
        "read the new code, update the patch (or drop it), then its hash"
    )


def test_make_switches_every_module_off_for_test_part_5_unpatched(stage):
    """Each module's switch is read in settings.py as `!= "off"`; the
    Makefile's UNPATCHED, which CI runs part 5 with, must turn off every one."""
    settings = (stage.folder / "mysite/settings.py").read_text()
    switches = set(re.findall(r'os\.environ\.get\("(\w+)"\) != "off"', settings))
    assert len(switches) >= len(SET_APART), "a module set apart without a switch"
    makefile = (REPO / "Makefile").read_text()
    unpatched = re.search(r"^UNPATCHED :=(.*?[^\\])$", makefile, re.M | re.S)
    assert unpatched, "the Makefile defines UNPATCHED"
    turned_off = set(re.findall(r"(\w+)=off", unpatched.group(1)))
    assert turned_off == switches
