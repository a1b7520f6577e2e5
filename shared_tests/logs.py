"""What the tests assert of a server's log, in more than one test file."""


def assert_no_traceback(log: str) -> None:
    """The server logged no traceback: nothing failed, or it failed silently."""
    assert "Traceback" not in log, log
