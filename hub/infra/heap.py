"""CPython's cyclic garbage collector, tuned for a server that builds a large heap once and then handles many
short requests (the profile found GC at 19 % of the hub's CPU under ingest); and the C allocator's free memory,
handed back to the system.

- `freeze_start_up`: everything alive once the hub is ready (modules, the routing index, the gazetteer, the
  policy) moves to the permanent generation, which no collection scans again. Without it every full
  collection walks that whole start-up heap, and they keep coming as request objects get promoted.
- `GEN0_THRESHOLD`: see below.
- `release_free_memory`, `release_every`: see RELEASE_EVERY_S.
"""

from __future__ import annotations

import asyncio
import ctypes
import gc
from collections.abc import Callable

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
    freezes what is left and hands start-up's free memory back; returns how many objects were frozen."""
    gc.collect()
    gc.freeze()
    release_free_memory()
    return gc.get_freeze_count()


# glibc's malloc keeps what is freed inside its heaps, resident, and gives back only a free top of a heap; blocks
# of 128 KB and more get mappings of their own, returned when freed, but that threshold rises to the size of each
# mapped block freed (up to 32 MB), and start-up frees blocks of many MB (building the intake model and the
# gazetteer). Measured with malloc_info on a fresh hub (2026-12-06): 31 MB free but resident in a heap of the
# thread that built the model, at idle; then 14 MB more over the first 30,000 tickets, in holes of 40–270 KB (the
# early-warning windows' lists, moved as they grow). malloc_trim(0) returns the free pages inside the heaps too:
# ~1–3 ms of CPU a call with the hub's heaps, so every 10 s costs nothing measurable (hub CPU per ticket the same
# within the box's noise), against RSS 389 → 353 MB at idle and +9 instead of +26 MB over 30,000 tickets.
# (Fixing the mmap threshold at 128 KB instead kept the growth as low, but every large transient buffer became an
# mmap/munmap pair: 7–13 % more hub CPU per ticket.)
RELEASE_EVERY_S = 10.0


def _malloc_trim() -> Callable[[int], int] | None:
    try:
        trim: Callable[[int], int] = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):  # not glibc (musl, macOS): their allocators keep their own policy
        return None
    return trim


_TRIM = _malloc_trim()


def release_free_memory() -> bool:
    """Hand the C allocator's free pages back to the system (glibc); False where there is no such call."""
    if _TRIM is None:
        return False
    _TRIM(0)
    return True


async def release_every(interval_s: float = RELEASE_EVERY_S) -> None:
    """The hub's loop: release free memory every `interval_s`, for the life of the process."""
    while True:
        await asyncio.sleep(interval_s)
        release_free_memory()
