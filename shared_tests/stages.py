"""The facts about the four stage folders that the shared tests rely on."""

from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PARTS = (1, 2, 3, 4)
LAYERS = ("memory", "redis")
# Part 1 has no channel layer yet; from part 2 on, every stage runs on both.
FIRST_PART_WITH_LAYER = 2
OWN_SETTINGS = "own-settings"  # the layer of a project checked with --project


@dataclass(frozen=True)
class Stage:
    """One stage folder, run on one channel layer."""

    part: int
    layer: str = "memory"
    # A learner's own project checked as this part (`--project`), run with its
    # own settings: the layer is whatever they configure.
    project: Path | None = None

    @property
    def folder(self) -> Path:
        return self.project or REPO / f"part_{self.part}"

    def __str__(self) -> str:
        return f"part_{self.part}-{self.layer}"


def stages(parts=PARTS, layers=LAYERS, project=None):
    """Every (part, layer) pair that exists among the parts and layers asked for."""
    if project:
        yield from (Stage(part, OWN_SETTINGS, project) for part in parts)
        return
    for part in parts:
        if part < FIRST_PART_WITH_LAYER:
            yield Stage(part)
        else:
            yield from (Stage(part, layer) for layer in layers)
