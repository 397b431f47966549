"""Background history for the demo and for measurements: N days of 12345 tickets with their outcomes, as the
JSON Lines `cityloop import tickets` reads (connectors.history).

The tickets are the simulator's (TicketFactory: the demo policy's categories at Nanning's 12345 rates, points
inside Nanning's counties, real community addresses); this module adds when they come and what became of them:
- volume: `per_day` on an ordinary weekday, fewer at weekends (WEEKDAY), with day-to-day Poisson noise;
- hour of day: the hotline's day (HOURLY): quiet at night, busiest mid-morning and mid-afternoon;
- outcomes with plausible durations (minutes to dispatch, hours to sign, about a day to resolve, a day or two
  to the callback), some returns (退回, RETURNED) and the callback's satisfaction as 12345 reports it; a ticket
  whose next step would fall after the history's end stops there (still being worked when it was exported).

Deterministic: the same seed, days, per_day and end give the same file.

    python -m tools.simulation.history --days 28 --per-day 300 --out history.jsonl --seed 7
"""

from __future__ import annotations

import argparse
import math
import random
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Final

import orjson

from tools.router import CountyRouter
from tools.simulation import content
from tools.simulation.channels import TicketFactory
from tools.simulation.config import CITY_TZ
from tools.simulation.places import Places

# Relative volume by hour of day (local time), from a 12345 centre's typical day.
HOURLY: Final = (1, 1, 1, 1, 1, 2, 4, 8, 14, 17, 17, 14, 9, 10, 14, 15, 14, 11, 8, 8, 7, 5, 3, 2)
# Relative volume Monday … Sunday.
WEEKDAY: Final = (1.0, 1.0, 0.97, 0.97, 0.95, 0.75, 0.7)
RETURNED: Final = 0.04  # of the dispatched tickets: returned once (退回) and sent on
SATISFACTION: Final = (("satisfied", 72), ("basically_satisfied", 16), ("dissatisfied", 5), ("unreachable", 7))
RETURN_REASONS: Final = (("not_our_remit", 6), ("wrong_area", 3), ("unclear_ownership", 1))


def _poisson(rng: random.Random, mean: float) -> int:
    if mean > 50:  # the normal approximation: exact enough, and O(1)
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    threshold, k, p = math.exp(-mean), 0, 1.0
    while True:
        p *= rng.random()
        if p <= threshold:
            return k
        k += 1


def _hours(rng: random.Random, median_h: float, sigma: float, cap_h: float) -> timedelta:
    return timedelta(hours=min(cap_h, median_h * math.exp(rng.gauss(0, sigma))))


def _iso(at: datetime) -> str:
    return at.replace(microsecond=0).isoformat()


def outcome(rng: random.Random, reported: datetime, end: datetime) -> dict[str, Any] | None:
    """What became of a ticket reported at `reported`, up to `end` (steps after it are left out)."""
    out: dict[str, Any] = {}
    at = reported + _hours(rng, 0.15, 0.8, 4)  # ~9 minutes to dispatch
    if at > end:
        return None
    out["dispatched_at"] = _iso(at)
    if rng.random() < RETURNED:
        at += _hours(rng, 3, 0.8, 48)
        if at > end:
            return out
        out["returned_at"] = _iso(at)
        out["return_reason"] = content.pick(rng, RETURN_REASONS)
    steps = (("signed_at", 1.5, 0.9, 48), ("resolved_at", 20, 1.0, 360), ("closed_at", 20, 0.6, 120))
    for name, median_h, sigma, cap_h in steps:
        at += _hours(rng, median_h, sigma, cap_h)
        if at > end:
            return out
        out[name] = _iso(at)
    out["satisfaction"] = content.pick(rng, SATISFACTION)
    return out


def generate(days: int, per_day: float, *, seed: int, end: datetime | None = None,
             router: CountyRouter | None = None, places: Places | None = None) -> Iterator[dict[str, Any]]:
    """The tickets of the `days` days before `end` (default: today's midnight, Nanning time), in time order.
    `places`: where reports come from (default: around the county seats); the demo passes the live simulator's
    community places, so that early warning's baseline learns the same geography as the live traffic."""
    if end is None:
        end = datetime.now(CITY_TZ).replace(hour=0, minute=0, second=0, microsecond=0)
    rng = random.Random(seed)
    # No vague addresses: history was handled, and a ticket the hub could not place would need its unit named.
    factory = TicketFactory(router, seed=seed, run_id=f"H{seed}", vague=0.0, places=places)
    for day in range(days, 0, -1):
        midnight = end - timedelta(days=day)
        count = _poisson(rng, per_day * WEEKDAY[midnight.weekday()])
        hours = rng.choices(range(24), weights=HOURLY, k=count)
        moments = sorted(midnight + timedelta(hours=h, seconds=rng.randrange(3600)) for h in hours)
        for reported in moments:
            ticket = factory.ticket(reported)
            done = outcome(rng, reported, end)
            if done is not None:
                ticket["outcome"] = done
            yield ticket


def write(path: Path, tickets: Iterator[dict[str, Any]]) -> int:
    count = 0
    with path.open("wb") as f:
        for ticket in tickets:
            f.write(orjson.dumps(ticket) + b"\n")
            count += 1
    return count


def main(argv: list[str] | None = None) -> int:
    from tools.cli import history_arguments  # the same options as `cityloop generate-history`

    parser = argparse.ArgumentParser(prog="python -m tools.simulation.history", description=__doc__.split("\n")[0])
    history_arguments(parser)
    return run(parser.parse_args(argv))


def run(args: argparse.Namespace) -> int:
    count = write(args.out, generate(args.days, args.per_day, seed=args.seed))
    print(f"{count:,} tickets over {args.days} days written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
