"""Parts 2 and 3 in the benchmark: the suite's layer, sized as part 5's.

With the tutorial's defaults (a channel holds 100 messages, redis-py pools 100
connections) a burst loses most of its messages or fails outright, and a
configuration that delivers less does less work: its speed would not compare.
So the benchmark gives parts 2 and 3 part 5's capacity, expiry and pool.
"""

from harness.layer_settings import *  # noqa: F403
from harness.layer_settings import CHANNEL_LAYERS, LAYER_REDIS_URL

CHANNEL_LAYERS["default"]["CONFIG"] = {"capacity": 2500, "expiry": 300}
if LAYER_REDIS_URL:
    CHANNEL_LAYERS["default"]["CONFIG"]["hosts"] = [
        {"address": LAYER_REDIS_URL, "max_connections": 1000}
    ]
