"""`make wheels`: does requirements.txt install from wheels alone everywhere?

For each operating system and CPython version a learner may have, pip resolves
requirements.txt as it would there (`pip install --dry-run --only-binary=:all:
--platform ... --python-version ...`), compiling nothing, and one line says
whether it would install. pip evaluates environment markers (`; sys_platform
!= "win32"`) for the machine it runs on, so each line of requirements.txt is
first kept or left out for the target system, as pip there would. Needs PyPI;
installs nothing.

    python -m tools.wheels
"""

import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from packaging.markers import Marker

from harness.stages import REPO

PYTHONS = ("3.11", "3.12", "3.13", "3.14", "3.15")
# Each system: the wheel tags pip on it accepts (a current Debian or Ubuntu
# for Linux, macOS 14 and 13), and its environment markers.
MANYLINUX = ("manylinux_2_28_{}", "manylinux_2_17_{}", "manylinux2014_{}")
PLATFORMS = {
    "Linux x86_64": ([tag.format("x86_64") for tag in MANYLINUX], "linux", "x86_64"),
    "Linux aarch64": (
        [tag.format("aarch64") for tag in MANYLINUX],
        "linux",
        "aarch64",
    ),
    "macOS arm64": (["macosx_14_0_arm64"], "darwin", "arm64"),
    "macOS x86_64": (["macosx_13_0_x86_64"], "darwin", "x86_64"),
    "Windows x86_64": (["win_amd64"], "win32", "AMD64"),
}


def requirements_for(sys_platform, machine, python) -> str:
    """requirements.txt with each line whose marker does not hold there left out."""
    environment = {
        "sys_platform": sys_platform,
        "platform_machine": machine,
        "python_version": python,
    }
    kept = []
    for line in (REPO / "requirements.txt").read_text().splitlines():
        requirement, _, marker = line.partition(";")
        if marker and not Marker(marker.strip()).evaluate(environment):
            continue
        kept.append(requirement)
    return "\n".join(kept)


def dry_run(system, python) -> subprocess.CompletedProcess:
    platform_tags, sys_platform, machine = PLATFORMS[system]
    with tempfile.TemporaryDirectory() as target:
        requirements = Path(target) / "requirements.txt"
        requirements.write_text(requirements_for(sys_platform, machine, python))
        command = [
            sys.executable, "-m", "pip", "install", "--dry-run", "--quiet",
            "--only-binary=:all:", "--implementation", "cp",
            "--python-version", python, "--target", str(Path(target) / "site"),
            *(option for tag in platform_tags for option in ("--platform", tag)),
            "-r", str(requirements),
        ]  # fmt: skip
        return subprocess.run(command, capture_output=True, text=True, timeout=300)


def verdict(result: subprocess.CompletedProcess) -> str:
    if result.returncode == 0:
        return "installs from wheels"
    errors = [line for line in result.stderr.splitlines() if "ERROR" in line]
    return "does NOT install: " + (errors[-1] if errors else result.stderr.strip())


def main():
    combinations = [(name, python) for name in PLATFORMS for python in PYTHONS]
    with ThreadPoolExecutor(4) as pool:
        results = pool.map(lambda pair: dry_run(*pair), combinations)
        failures = 0
        for (name, python), result in zip(combinations, results, strict=True):
            failures += result.returncode != 0
            print(f"{name:<15} CPython {python:<5} {verdict(result)}", flush=True)
    print(f"{len(combinations) - failures} of {len(combinations)} install.")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
