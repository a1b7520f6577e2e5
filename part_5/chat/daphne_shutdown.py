"""Beyond the tutorial: every WebSocket's consumer cancelled when Daphne stops,
set apart here because it works around a bug in Daphne's own shutdown.
Switched on by CHAT_DAPHNE_SHUTDOWN (settings).

What Daphne lacks. On SIGTERM or Ctrl-C, Daphne's Server.kill_all_applications
goes through the connections in the order they came, cancels each one's
application, then waits for them before the reactor stops. It reads every
connection's "application_instance", and an HTTP request not yet handed to
the application has none: the one a WebSocket was upgraded from, until
Daphne's clean-up a second later, or one whose body is still arriving. There
it raises KeyError (Twisted logs it; runserver does not show it): the
applications before that request are cancelled and not waited for, those
after it are never cancelled, so chat/stopping.py does not run for them, and
their sockets see 1006, without a reason. And when nothing fails, the wait
ends as soon as the first application has ended, not the last.

What this module does, around the WebSocket routes (mysite/asgi.py): each
WebSocket application records its task, and the first one adds a trigger to
the reactor's shutdown (Twisted's public addSystemEventTrigger) that cancels
those Daphne has not, and waits up to SHUTDOWN_WAIT seconds for all of them
to end. Twisted runs every trigger, even after one has raised. Under any
other server it does nothing.

Written for Daphne 4.2.3 on Twisted 26.10. It relies on Daphne running its
applications as asyncio tasks on Twisted's reactor, and handing each
application `partial(Server.handle_reply, protocol)` as its send
(chat/daphne_flow_control.py's daphne_protocol). WRITTEN_AGAINST records the
SHA-256 of Server.kill_all_applications, and shared_tests/test_upstream.py
fails once it differs: a Daphne that fixes it makes this module needless.

Off, a server stopped within a second of a new connection closes the sockets
opened after it without their reason; the page reconnects all the same.
"""

import asyncio

from django.conf import settings

from .daphne_flow_control import daphne_protocol

# The upstream code this module works around, by the SHA-256 of
# inspect.getsource() when it was written (shared_tests/test_upstream.py).
WRITTEN_AGAINST = {
    "daphne.server.Server.kill_all_applications": (
        "4e1618c6f78717585c52ba38483e84f78d9e0ada1d6652c1671cd86204e2c336"
    ),
}


# The longest the reactor waits for the applications to end, as long as
# Daphne gives an application to end after its client has gone.
SHUTDOWN_WAIT = 10


def with_daphne_shutdown(app):
    """The WebSocket application, within CancelOnShutdown while the setting is on."""
    return CancelOnShutdown(app) if settings.CHAT_DAPHNE_SHUTDOWN else app


class CancelOnShutdown:
    """ASGI middleware: Daphne's shutdown cancels every WebSocket's application."""

    def __init__(self, app):
        self.app = app
        self.running = set()  # the application tasks of the open WebSockets
        self.trigger_added = False

    async def __call__(self, scope, receive, send):
        if daphne_protocol(send) is None:
            return await self.app(scope, receive, send)
        if not self.trigger_added:
            from twisted.internet import reactor  # Daphne's, already running

            reactor.addSystemEventTrigger("before", "shutdown", self.cancel_all)
            self.trigger_added = True
        task = asyncio.current_task()
        self.running.add(task)
        try:
            return await self.app(scope, receive, send)
        finally:
            self.running.discard(task)

    def cancel_all(self):
        """Cancel what Daphne has not, and have the reactor wait for it all."""
        from twisted.internet.defer import Deferred, succeed

        pending = [task for task in self.running if not task.done()]
        if not pending:
            return succeed(None)
        for task in pending:
            if not task.cancelling():  # Daphne's own trigger ran first
                task.cancel()
        waiting = asyncio.wait(pending, timeout=SHUTDOWN_WAIT)
        return Deferred.fromFuture(asyncio.ensure_future(waiting))
