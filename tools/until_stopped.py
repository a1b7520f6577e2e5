"""How the long-running tools end: Ctrl-C and a kill (SIGTERM) alike raise
KeyboardInterrupt, so every `with` block stops what it started, and the tool
says "Stopped." instead of printing a traceback."""

import signal
import sys


def run_until_stopped(main, *arguments):
    """sys.exit(main(*arguments)), ending with 0 on Ctrl-C or a kill."""
    # SIGINT explicitly too: a shell starts a background command with SIGINT
    # ignored, and Python then never raises KeyboardInterrupt for it.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.default_int_handler)
    try:
        code = main(*arguments)
    except KeyboardInterrupt:
        print("\nStopped.", flush=True)
        code = 0
    sys.exit(code)
