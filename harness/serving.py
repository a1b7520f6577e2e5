"""Part 5 served as in production: ASGI processes behind nginx, on one Redis."""

import shutil
from pathlib import Path

# Debian installs nginx in /usr/sbin, which is not on a normal user's PATH.
NGINX_PLACES = ("/usr/sbin/nginx", "/usr/local/sbin/nginx")


def nginx_binary() -> str | None:
    """The nginx program, or None where there is none."""
    found = shutil.which("nginx")
    if found:
        return found
    return next((place for place in NGINX_PLACES if Path(place).is_file()), None)
