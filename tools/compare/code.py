"""A file as make compare sees it: its code alone, formatted alike.

Python files lose their comments and docstrings (startproject's, the
tutorial's labels, anyone's: they change nothing the code does), SECRET_KEY
and the statements only one Django version writes (versions.py); then `ruff
format` lays out what is left, on copies in a temporary folder, with trailing
commas not kept as a reason to split a line: quotes, line breaks and commas
then come out the same whoever typed them. Templates lose their HTML,
Django-template and JavaScript comments, and their indentation is not
compared. Blank lines never count.
"""

import ast
import io
import re
import subprocess
import sys
import tempfile
import tokenize
from dataclasses import dataclass, field
from pathlib import Path

from harness.waiting import SUBPROCESS
from tools.compare.versions import is_version_only

# The formatter's settings, the same for both sides.
RUFF_SETTINGS = """\
[format]
skip-magic-trailing-comma = true
[lint.isort]
split-on-trailing-comma = false
"""
TEMPLATE_COMMENTS = re.compile(r"<!--.*?-->|\{#.*?#\}", re.DOTALL)
# `// comment` after code or alone; never the // of ws:// or http://.
SCRIPT_COMMENT = re.compile(r"(?:^|\s)//.*$")


@dataclass(frozen=True)
class Line:
    key: str  # what is compared
    shown: str  # what is printed
    number: int  # its line in the formatted file (1-based)


@dataclass
class Code:
    lines: list[Line]
    # Python's top-level statements: (first line, last line, the name assigned).
    statements: list[tuple[int, int, str]] = field(default_factory=list)
    problem: str | None = None  # why it could not be read as Python


def read_all(texts: dict) -> dict:
    """{key: (file name, text)} -> {key: Code}, every Python file formatted by
    one run of ruff."""
    stripped, codes = {}, {}
    for key, (name, text) in texts.items():
        if not name.endswith(".py"):
            codes[key] = template_code(text)
            continue
        try:
            stripped[key] = strip_python(text)
        except SyntaxError as error:
            codes[key] = plain_code(
                text, f"not valid Python (line {error.lineno}: {error.msg})"
            )
    for key, formatted in format_python(stripped).items():
        codes[key] = python_code(formatted)
    return codes


def strip_python(source: str) -> str:
    """The module without comments, docstrings, SECRET_KEY and the
    statements only one Django version writes."""
    tree = ast.parse(source)
    lines = source.splitlines()
    dropped = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if not isinstance(body, list):
            continue
        if isinstance(
            node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef
        ):
            docstring = body[0] if body and is_docstring(body[0]) else None
            if docstring and len(body) == 1 and not isinstance(node, ast.Module):
                # The body would be empty: a `pass` stands in for it.
                indent = lines[docstring.lineno - 1][: docstring.col_offset]
                lines[docstring.lineno - 1] = indent + "pass"
                dropped |= set(range(docstring.lineno + 1, docstring.end_lineno + 1))
            elif docstring:
                dropped |= set(range(docstring.lineno, docstring.end_lineno + 1))
        for statement in body:
            if is_version_only(statement) or (
                isinstance(node, ast.Module) and assigns(statement) == "SECRET_KEY"
            ):
                dropped |= set(range(statement.lineno, statement.end_lineno + 1))
    for row, column in comments(source):
        if row not in dropped:
            lines[row - 1] = lines[row - 1][:column].rstrip()
    return (
        "\n".join(line for number, line in enumerate(lines, 1) if number not in dropped)
        + "\n"
    )


def is_docstring(statement) -> bool:
    return (
        isinstance(statement, ast.Expr)
        and isinstance(statement.value, ast.Constant)
        and isinstance(statement.value.value, str)
    )


def assigns(statement) -> str | None:
    """The name a top-level statement assigns, if it assigns one name."""
    targets = getattr(statement, "targets", None) or [
        getattr(statement, "target", None)
    ]
    names = [target.id for target in targets if isinstance(target, ast.Name)]
    return names[0] if len(names) == 1 else None


def comments(source):
    """(row, column) where each comment starts."""
    tokens = tokenize.generate_tokens(io.StringIO(source).readline)
    return [token.start for token in tokens if token.type == tokenize.COMMENT]


def format_python(sources: dict) -> dict:
    """{key: source} formatted by ruff, in a temporary folder of copies."""
    if not sources:
        return {}
    with tempfile.TemporaryDirectory(prefix="compare-") as folder:
        folder = Path(folder)
        (folder / "ruff.toml").write_text(RUFF_SETTINGS)
        paths = {key: folder / f"{number}.py" for number, key in enumerate(sources)}
        for key, path in paths.items():
            path.write_text(sources[key])
        subprocess.run(
            [
                sys.executable,
                "-m",
                "ruff",
                "format",
                "--no-cache",
                "--quiet",
                str(folder),
            ],
            check=True,
            capture_output=True,
            timeout=SUBPROCESS,
        )
        return {key: path.read_text() for key, path in paths.items()}


def python_code(formatted: str) -> Code:
    lines = [
        Line(line, line, number)
        for number, line in enumerate(formatted.splitlines(), 1)
        if line.strip()
    ]
    statements = [
        (statement.lineno, statement.end_lineno, assigns(statement))
        for statement in ast.parse(formatted).body
    ]
    return Code(lines, statements)


def template_code(text: str) -> Code:
    lines = []
    for number, line in enumerate(TEMPLATE_COMMENTS.sub("", text).splitlines(), 1):
        line = SCRIPT_COMMENT.sub("", line).rstrip()
        if line.strip():
            lines.append(Line(" ".join(line.split()), line, number))
    return Code(lines)


def plain_code(text: str, problem: str) -> Code:
    """A file compared line by line, spaces aside, when it cannot be read."""
    lines = [
        Line(" ".join(line.split()), line.rstrip(), number)
        for number, line in enumerate(text.splitlines(), 1)
        if line.strip()
    ]
    return Code(lines, problem=problem)
