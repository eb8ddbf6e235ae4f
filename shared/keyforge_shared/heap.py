"""The garbage collector's pauses, kept short enough for request latency.

CPython's full collection walks every container object the process holds,
and the loop that serves requests stands still meanwhile. A hive holds a few
hundred thousand objects once it has started (modules, the app, its routes
and pydantic models, the scoring model), nearly all of them for its whole
life: measured under load, its full collections took 120-280 ms each, and
every request in flight waited that long.
"""

from __future__ import annotations

import gc

# Objects allocated (net) between young-generation collections; CPython's default is 700.
# Ten thousand young objects take well under a millisecond to walk, and the older
# generations, triggered by counts of these, are walked 14 times less often.
YOUNG_THRESHOLD = 10_000


def settle_after_startup() -> None:
    """Call once, when a service has started: what start-up built lives as long as the
    process, so it leaves the collector's sight (``gc.freeze``) and full collections
    walk only what requests and streams made since. Start-up's own garbage goes first,
    or it would be kept forever."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
