"""CPython's cyclic garbage collector, tuned for a server that builds a large heap once and then handles many
short requests (the profile found GC at 19 % of the hub's CPU under ingest).

- `freeze_start_up`: everything alive once the hub is ready (modules, the routing index, the gazetteer, the
  policy) moves to the permanent generation, which no collection scans again. Without it every full
  collection walks that whole start-up heap, and they keep coming as request objects get promoted.
- `GEN0_THRESHOLD`: see below.
"""

from __future__ import annotations

import gc

# A young-generation collection runs once this many more container objects (dicts, lists, instances) have been
# allocated than freed. CPython's 700 was set for small scripts: a hub with 64 requests in flight holds tens of
# thousands of young objects at any moment (parsed JSON, pydantic models, asyncio futures, records), so at 700
# it collected several times per ticket, each time traversing objects that were about to be freed by reference
# counting anyway, and promoted in-flight request data into the older generations, whose collections then came
# more often. At 50,000 a collection runs every few dozen tickets and finds most of a request's objects already
# gone. The memory this may hold is only garbage in reference cycles awaiting the next collection — bounded by
# the threshold (at most ~50,000 small objects, a few MB) — since everything else is freed at once by
# reference counting. Measured: see README, "Performance".
GEN0_THRESHOLD = 50_000


def tune() -> None:
    """Call once, early: the older generations keep CPython's ratios (10, 10)."""
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GEN0_THRESHOLD, gen1, gen2)


def freeze_start_up() -> int:
    """Call once the hub is ready. Collects start-up's garbage first (so that it is freed, not frozen), then
    freezes what is left; returns how many objects were frozen."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
