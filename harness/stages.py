"""The stage folders, and how the suite runs one on the channel layer it chooses."""

import os
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TUTORIAL_PARTS = (1, 2, 3, 4)  # the official tutorial, line for line
BEYOND_PART = 5  # everything this repository adds
PARTS = (*TUTORIAL_PARTS, BEYOND_PART)
LAYERS = ("memory", "redis")
FIRST_PART_WITH_LAYER = 2  # part 1 has no channel layer yet
OWN_SETTINGS = "own-settings"  # the layer of a learner's project: theirs
# What part 5 reads to choose its channel layer (part_5/mysite/settings.py):
# never taken from the suite's own environment.
LAYER_VARIABLES = ("REDIS_URL", "REDIS_SENTINELS", "REDIS_SENTINEL_MASTER")


def stage_folder(part: int) -> Path:
    return REPO / f"part_{part}"


@dataclass(frozen=True)
class Stage:
    """One stage folder (or a learner's project checked as one), on one layer."""

    part: int
    layer: str = "memory"
    project: Path | None = None  # `make check`: a learner's own folder
    copy: Path | None = None  # a copy of the stage, run just as the stage is
    python: str | None = None  # `make check PYTHON=`: the learner's interpreter

    @property
    def folder(self) -> Path:
        return self.project or self.copy or stage_folder(self.part)

    @property
    def interpreter(self) -> str:
        """The Python its manage.py runs with: the learner's own when given,
        else this repository's."""
        return self.python or sys.executable

    @property
    def has_layer(self) -> bool:
        return self.part >= FIRST_PART_WITH_LAYER

    def environment(self, redis_url=None) -> dict:
        """The environment its manage.py runs in, on this stage's layer.

        Parts 2 to 4 keep the tutorial's settings file, with CHANNEL_LAYERS
        replaced from outside (harness/layer_settings.py); part 5 reads
        REDIS_URL itself; a learner's project runs with its settings untouched.
        """
        unset = (*LAYER_VARIABLES, "HARNESS_REDIS_URL", "DJANGO_SETTINGS_MODULE")
        env = {key: value for key, value in os.environ.items() if key not in unset}
        env["PYTHONUNBUFFERED"] = "1"  # so the log shows what happened, in order
        if self.project or not self.has_layer:
            return env
        if self.part == BEYOND_PART:
            if redis_url:
                env["REDIS_URL"] = redis_url
            return env
        env["DJANGO_SETTINGS_MODULE"] = "harness.layer_settings"
        env["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(REPO), env.get("PYTHONPATH")])
        )
        if redis_url:
            env["HARNESS_REDIS_URL"] = redis_url
        return env

    def __str__(self) -> str:
        return f"part_{self.part}-{self.layer}"


def stages(parts=PARTS, layers=LAYERS, project=None, python=None):
    """Every (part, layer) pair among the parts and layers asked for."""
    for part in parts:
        if project:
            yield Stage(part, OWN_SETTINGS, project, python=python)
        elif part < FIRST_PART_WITH_LAYER:
            yield Stage(part)
        else:
            yield from (Stage(part, layer) for layer in layers)
