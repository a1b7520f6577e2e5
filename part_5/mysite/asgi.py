"""
ASGI config for mysite project.

It exposes the ASGI callable as a module-level variable named ``application``.

For more information on this file, see
https://docs.djangoproject.com/en/5.2/howto/deployment/asgi/
"""

import os

# Beyond the tutorial: AuthMiddlewareStack from chat/channels_patches.py (below).
from channels.routing import ProtocolTypeRouter, URLRouter
from channels.security.websocket import AllowedHostsOriginValidator
from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
# Initialize Django ASGI application early to ensure the AppRegistry
# is populated before importing code that may import ORM models.
django_asgi_app = get_asgi_application()

# Beyond the tutorial: Channels' AuthMiddlewareStack, but a WebSocket's frames
# are sent without the session's wrapper, which has nothing to do for them,
# set apart because Channels has no option for it (chat/channels_patches.py).
from chat.channels_patches import AuthMiddlewareStack

# Beyond the tutorial: a bound on what Daphne holds for one client, set apart
# because Daphne has no flow control of its own (chat/daphne_flow_control.py).
from chat.daphne_flow_control import with_daphne_flow_control

# Beyond the tutorial: Daphne's shutdown cancels every consumer, so that each
# socket gets its reason, set apart because it works around a bug of Daphne's
# (chat/daphne_shutdown.py).
from chat.daphne_shutdown import with_daphne_shutdown

# Beyond the tutorial: a dead Redis closes the socket with a message, not a
# traceback (chat/layer_errors.py).
from chat.layer_errors import CloseOnChannelLayerError
from chat.routing import websocket_urlpatterns

# Beyond the tutorial: a server that stops closes each socket with a reason.
from chat.stopping import CloseWhenServerStops

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        # Beyond the tutorial: Daphne's shutdown and flow control around
        # everything, outermost, where the server's own send and receive are seen.
        "websocket": with_daphne_shutdown(
            with_daphne_flow_control(
                AllowedHostsOriginValidator(
                    AuthMiddlewareStack(
                        # Beyond the tutorial: CloseOnChannelLayerError around
                        # the routes, and CloseWhenServerStops around both.
                        CloseWhenServerStops(
                            CloseOnChannelLayerError(URLRouter(websocket_urlpatterns))
                        )
                    )
                )
            )
        ),
    }
)
