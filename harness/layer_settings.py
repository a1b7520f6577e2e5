"""A stage's own settings with the channel layer the suite chooses.

Parts 2 to 4 configure the tutorial's Redis layer on 127.0.0.1:6379. The suite
runs each of them on the in-memory layer and on a Redis of its own, on a free
port, without touching the stage: it starts the stage with
DJANGO_SETTINGS_MODULE=harness.layer_settings, which imports the stage's
mysite.settings whole and replaces CHANNEL_LAYERS alone. The layer keeps the
tutorial's defaults (capacity, connection pool), so what the suite measures on
these parts is what a learner's copy of the tutorial does.
"""

import os

from mysite.settings import *  # noqa: F403

LAYER_REDIS_URL = os.environ.get("HARNESS_REDIS_URL")

if LAYER_REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [LAYER_REDIS_URL]},
        },
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
