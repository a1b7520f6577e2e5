"""`make compare PART=N PROJECT=folder`: a learner's folder against stage
part_N, without the noise.

Both sides are read as code, formatted alike on copies (the learner's folder
is never written to), so that only what the tutorial asks the learner to type
can differ: not layout, quotes, comments or docstrings, not SECRET_KEY, not
the lines that another Django version's startproject writes. Each difference
is printed with the tutorial's page and section it belongs to. This goes
further than a `diff -w` with an ignore list (the check of Harry Percival's
book tester, `check_final_diff`): it knows why each ignored line differs.

One module for each job:

- folders.py: which files of a folder are compared;
- versions.py: what startproject writes differently by Django version;
- code.py: a file as code alone, formatted by ruff;
- differences.py: the two folders compared, file by file;
- sections.py: the tutorial's section each difference belongs to
  (harness/tutorial.py);
- report.py: what the learner reads.
"""
