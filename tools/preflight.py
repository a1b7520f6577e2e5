"""`make test` starts here: is every program the tests drive on this machine?

Chrome or Chromium and its driver (found the way the tests find them, by
Selenium Manager), a Redis server (the system's or the one installed with the
requirements) and nginx (part 5 served for real). On Debian or Ubuntu, run as
root (CI, a container), what is missing is installed with apt-get, Debian's
redis-server and redis-sentinel among them. Anywhere else it stops, in one
message, with the command that installs it.

    python -m tools.preflight                  # check, install what apt-get can
    python -m tools.preflight --skip browser   # what `make test-no-browser` needs
"""

import argparse
import logging
import os
import shutil
import subprocess
import sys

from selenium.common.exceptions import WebDriverException
from selenium.webdriver import ChromeOptions
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.driver_finder import DriverFinder

from harness.browser import headless_shell
from harness.redis import RedisNotAvailable, redis_server_binary
from harness.serving import nginx_binary

# Debian's packages for each program, and how other systems get it.
DEBIAN_PACKAGES = {
    # The headless shell: the suite's browser where there is one (harness/browser.py).
    "browser": ["chromium", "chromium-driver", "chromium-headless-shell"],
    # Sentinel: a Redis that fails over (harness/sentinel.py).
    "redis": ["redis-server", "redis-sentinel"],
    "nginx": ["nginx"],
}
ELSEWHERE = {
    "darwin": {
        "browser": "brew install --cask google-chrome",
        "redis": "brew install redis",
        "nginx": "brew install nginx",
    },
    "win32": {
        "browser": "winget install Google.Chrome",
        "redis": "Memurai (memurai.com), or Redis in WSL",
        "nginx": "nginx for Windows (nginx.org), or WSL",
    },
}
SELENIUM_MANAGER_HINT = (
    "or, online, unset SE_OFFLINE and let Selenium Manager download Chrome "
    "for Testing; SE_BROWSER_PATH and SE_CHROMEDRIVER name a browser and "
    "driver installed elsewhere"
)


def has_browser() -> bool:
    """Would `webdriver.Chrome(options)` find a browser and a driver? Where
    apt-get can install it, Chrome's headless shell is wanted too."""
    wants_shell = can_apt_get() and not os.environ.get("SE_BROWSER_PATH")
    if wants_shell and not headless_shell():
        return False
    # Selenium Manager's own complaints (it found nothing, it could not reach
    # the network) would come before the one message below: not printed.
    selenium_log = logging.getLogger("selenium")
    level = selenium_log.level
    selenium_log.setLevel(logging.CRITICAL)
    try:
        finder = DriverFinder(Service(), ChromeOptions())
        return bool(finder.get_driver_path() and finder.get_browser_path())
    except (WebDriverException, ValueError, OSError):
        return False
    finally:
        selenium_log.setLevel(level)


def has_redis() -> bool:
    """A Redis server: the system's, or the embedded one of requirements.txt.
    Where apt-get can install it, the system's is preferred."""
    if can_apt_get():
        programs = ("redis-server", "redis-sentinel")
        return all(shutil.which(program) for program in programs)
    try:
        return bool(redis_server_binary())
    except RedisNotAvailable:
        return False


def has_nginx() -> bool:
    return nginx_binary() is not None


CHECKS = {"browser": has_browser, "redis": has_redis, "nginx": has_nginx}


def missing(skip=()) -> list:
    return [
        name for name, present in CHECKS.items() if name not in skip and not present()
    ]


def can_apt_get() -> bool:
    is_root = hasattr(os, "geteuid") and os.geteuid() == 0
    return is_root and shutil.which("apt-get") is not None


def apt_get_install(names):
    packages = [package for name in names for package in DEBIAN_PACKAGES[name]]
    print(f"Installing {' '.join(packages)} with apt-get", flush=True)
    quiet = {"stdout": subprocess.DEVNULL}
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env, **quiet)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", *packages], check=True, env=env, **quiet
    )


def how_to_install(names) -> str:
    if sys.platform in ELSEWHERE:
        commands = [ELSEWHERE[sys.platform][name] for name in names]
    else:
        packages = [package for name in names for package in DEBIAN_PACKAGES[name]]
        commands = [f"sudo apt-get install {' '.join(packages)}"]
    hint = f" ({SELENIUM_MANAGER_HINT})" if "browser" in names else ""
    what = {"browser": "Chrome or Chromium and its driver", "redis": "a Redis server"}
    listed = ", ".join(what.get(name, name) for name in names)
    return (
        f"The tests need {listed}, not found on this machine. "
        f"Install with: {'; '.join(commands)}{hint}."
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--skip", action="append", choices=CHECKS, default=[], help="not needed"
    )
    args = parser.parse_args(argv)
    absent = missing(args.skip)
    if absent and can_apt_get():
        apt_get_install(absent)
        absent = missing(args.skip)
    if absent:
        print(how_to_install(absent), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
