"""The official tutorial as data (Channels 4.3.2's docs/tutorial/part_N.rst):
its pages and sections, which section gives which file, how each file reaches
a learner's folder, and the lines where part 4 departs from it.

A file reaches the learner in one of three ways. The tutorial gives it whole
(WRITTEN_WHOLE: the learner pastes the block). It has the learner edit what
`startproject` wrote (EDITED_IN_PLACE: its block is the module below the
docstring, which stays; `mysite/settings.py` is edited a setting at a time,
SETTINGS_EDITED). Or it never touches it (manage.py, wsgi.py, the
`__init__.py` files): `startproject` and `startapp` wrote it.

`make compare` names the section each difference belongs to from here; the
suite builds learner projects from it and holds the stages to it.
"""

import re
from dataclasses import dataclass

TUTORIAL = "https://channels.readthedocs.io/en/stable/tutorial/"
PAGES = {
    1: "Basic Setup",
    2: "Implement a Chat Server",
    3: "Rewrite Chat Server as Asynchronous",
    4: "Automated Testing",
}


@dataclass(frozen=True)
class Section:
    """A section of a tutorial page, by the title its page gives it."""

    part: int
    title: str

    @property
    def url(self) -> str:
        # Sphinx's anchor: the title in lower case, words joined by hyphens.
        anchor = "-".join(re.findall(r"[a-z0-9]+", self.title.lower()))
        return f"{TUTORIAL}part_{self.part}.html#{anchor}"

    def __str__(self) -> str:
        return f'Tutorial Part {self.part} ({PAGES[self.part]}), "{self.title}"'


CREATING_A_PROJECT = Section(1, "Creating a project")
CREATING_THE_APP = Section(1, "Creating the Chat app")
INDEX_VIEW = Section(1, "Add the index view")
INTEGRATE_CHANNELS = Section(1, "Integrate the Channels library")
ROOM_VIEW = Section(2, "Add the room view")
FIRST_CONSUMER = Section(2, "Write your first consumer")
CHANNEL_LAYER = Section(2, "Enable a channel layer")
ASYNC_CONSUMER = Section(3, "Rewrite the consumer to be asynchronous")
TESTING = Section(4, "Testing the views")

# Each file the tutorial gives whole, with the sections that give it, in order.
WRITTEN_WHOLE = {
    "chat/templates/chat/index.html": (INDEX_VIEW,),
    "chat/views.py": (INDEX_VIEW, ROOM_VIEW),
    "chat/urls.py": (INDEX_VIEW, ROOM_VIEW),
    "chat/templates/chat/room.html": (ROOM_VIEW,),
    "chat/routing.py": (FIRST_CONSUMER,),
    "chat/consumers.py": (FIRST_CONSUMER, CHANNEL_LAYER, ASYNC_CONSUMER),
    "chat/tests.py": (TESTING,),
}
# What startproject wrote that the tutorial has the learner edit: "add an
# import ... and insert", "adjust ... to include the following code".
EDITED_IN_PLACE = {
    "mysite/urls.py": (INDEX_VIEW,),
    "mysite/asgi.py": (INTEGRATE_CHANNELS, FIRST_CONSUMER),
}
SETTINGS = "mysite/settings.py"
# The settings the tutorial edits or adds, with the sections that show them.
SETTINGS_EDITED = {
    "INSTALLED_APPS": (CREATING_THE_APP, INTEGRATE_CHANNELS),
    "ASGI_APPLICATION": (INTEGRATE_CHANNELS, CHANNEL_LAYER),
    "CHANNEL_LAYERS": (CHANNEL_LAYER,),
    "DATABASES": (TESTING,),
}
# What startapp writes and part 1 has the learner delete ("remove all other
# files from the chat directory"): chat/tests.py comes back in part 4.
REMOVED_FROM_THE_APP = (
    "chat/admin.py",
    "chat/apps.py",
    "chat/migrations",
    "chat/models.py",
    "chat/tests.py",
)


def section_at(part, sections):
    """The last of the sections that a learner at the end of `part` has
    followed, or None when the file comes later."""
    reached = [section for section in sections if section.part <= part]
    return reached[-1] if reached else None


@dataclass(frozen=True)
class Departure:
    """Lines of a stage that are not the tutorial's, on purpose (each marked
    `Beyond the tutorial:`): the stage's text and the tutorial's in its place."""

    file: str
    stage: str
    tutorial: str


# Part 4's two, kept by part 5: part_4/README.md says why.
DEPARTURES = (
    Departure(
        "chat/tests.py",
        stage=(
            "            # Beyond the tutorial: headless, and allowed to run as root (as CI does);\n"
            "            # Selenium Manager still finds the installed Chrome or Chromium.\n"
            "            options = webdriver.ChromeOptions()\n"
            '            options.add_argument("--headless")\n'
            '            options.add_argument("--no-sandbox")\n'
            "            cls.driver = webdriver.Chrome(options=options)\n"
        ),
        tutorial="            cls.driver = webdriver.Chrome()\n",
    ),
    Departure(
        SETTINGS,
        stage=(
            "            # Beyond the tutorial: a file of its own; the tutorial names db.sqlite3,\n"
            "            # the development database, which every test run would delete.\n"
            '            "NAME": BASE_DIR / "db_test.sqlite3",\n'
        ),
        tutorial='            "NAME": BASE_DIR / "db.sqlite3",\n',
    ),
)


def as_the_tutorial_writes(file, text):
    """The text of a stage's file with its departures replaced by the
    tutorial's lines: what a learner who typed the tutorial has."""
    for departure in DEPARTURES:
        if departure.file == file and text.count(departure.stage) == 1:
            text = text.replace(departure.stage, departure.tutorial)
    return text
