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
# allocated than freed. CPython's 700 suits small scripts: a hub with 64 requests in flight holds thousands of
# young objects at any moment (parsed JSON, pydantic models, futures, records), so at 700 it collected about
# every three tickets, each time traversing objects that reference counting was about to free anyway, and
# promoted in-flight request data to the older generations, whose collections then came more often (a full
# one every ~400 tickets). Measured under ingest (README, "Performance"): 10,000 removes most of that cost,
# 50,000 and 100,000 all of it (under 10 young and no full collections per 5,000 tickets, 0.2–0.4 ms less CPU
# per ticket than 700). 50,000 leaves a margin for bursts. What it may hold is only garbage in reference cycles
# awaiting the next collection, at most that many small objects (a few MB): everything else is freed at once
# by reference counting.
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
