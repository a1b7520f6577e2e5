"""Part 5 set up in this process for the tests beside this file, as
pytest-django sets up any project: mysite.settings with part_5/ on sys.path,
REDIS_URL and the like unset (so, the in-memory layer), the database blocked.

Here, not with DJANGO_SETTINGS_MODULE in pyproject.toml: pytest-django would
then set part 5 up as every run of the suite starts, importing its `mysite` and
`chat` (and Daphne: 0.7 s) into `make check` on a learner's project, into
`--part 3`, and into each of shared_tests/test_check.py's own pytest runs.
Here it happens only once one of these tests is still selected after the
suite's rule (`in_process(5)`), -k and -m, and before any test runs; from there
pytest-django works as for any project (Django's test environment, `settings`).
"""

import os
import sys
from pathlib import Path

import pytest

from harness.stages import BEYOND_PART, LAYER_VARIABLES, stage_folder

HERE = Path(__file__).parent


@pytest.hookimpl(trylast=True)  # after the suite's rule, -k and -m have deselected
def pytest_collection_modifyitems(items):
    if any(item.path.is_relative_to(HERE) for item in items):
        set_up_part_5()


def set_up_part_5():
    """What `pytest --ds=mysite.settings` in part_5/ would do."""
    import django  # only in a run that selects these tests

    sys.path.insert(0, str(stage_folder(BEYOND_PART)))
    os.environ["DJANGO_SETTINGS_MODULE"] = "mysite.settings"
    for name in LAYER_VARIABLES:  # so that part 5 chooses the in-memory layer
        os.environ.pop(name, None)
    django.setup()


@pytest.fixture(autouse=True, scope="session")
def no_database(django_db_blocker):
    """As pytest-django does when it sets Django up itself: these tests need none."""
    with django_db_blocker.block():
        yield
