"""`make check PART=N PROJECT=folder`: the shared suite's verdict on a learner's
own project.

The same tests run against the learner's folder (the one holding `manage.py`,
`mysite/` and `chat/`), started with its own `manage.py runserver` and its own
settings, as the stage part_N would be; with `PYTHON=path` (`--python`), by
the learner's own interpreter and packages. Tests about this repository itself
(marker `repository`) are left out, and nothing is left in the folder.

The root conftest.py registers the plugin only when `--project` is given.
One module for each job:

- plugin.py: the pytest hooks, which keep one CheckState in pytest's stash;
- project.py: looking at the project before any test (its Python's versions,
  its settings, its ASGI module imported alone, its runserver started once);
- diagnosis.py: naming what went wrong, by the entry of TROUBLESHOOTING.md
  that the evidence matches (harness/troubleshooting.py);
- plain_words.py: what the server did, when no entry matches;
- verdict.py: the lines a learner reads at the end.
"""
