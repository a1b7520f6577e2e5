"""What the tests read in what a server logged or a command printed, in more
than one test file."""


def assert_no_traceback(log: str) -> None:
    """The server logged no traceback: nothing failed, or it failed silently."""
    assert "Traceback" not in log, log


def said(output: str) -> str:
    """A command's output with its lines unwrapped: what it says, whatever the
    width it was wrapped at."""
    return " ".join(output.split())
