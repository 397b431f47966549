"""Repeat complaints (重复诉求, 同一地点同一问题): the candidates for 主动治理 (未诉先办) from the pairs of reports
that hub.services.analysis finds in SQL (same category, same place, at most N days apart).

A candidate is a connected group of such pairs (single linkage): a report joins a group when it is within the
radius and the window of any report already in it. A street lamp reported five times over three weeks by people
standing 30–80 m apart is one candidate, not five overlapping ones; the group's spread (the farthest report
from its centre) and its first and last report say how tight it is.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable
from typing import Any, Protocol

import asyncpg

from hub.services.analysis import EARTH_RADIUS_M


class Reports(Protocol):
    async def reports(self, case_ids: list[Any]) -> list[asyncpg.Record]: ...


def groups(pairs: Iterable[tuple[uuid.UUID, uuid.UUID]]) -> list[set[uuid.UUID]]:
    """The connected groups of reports that `pairs` link (union-find with path halving)."""
    parent: dict[uuid.UUID, uuid.UUID] = {}

    def root(x: uuid.UUID) -> uuid.UUID:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x
    for a, b in pairs:
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    out: dict[uuid.UUID, set[uuid.UUID]] = {}
    for x in parent:
        out.setdefault(root(x), set()).add(x)
    return list(out.values())


def _metres(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Equirectangular distance: exact to well under a metre over the few hundred metres of a group."""
    x = math.radians(lng2 - lng1) * math.cos(math.radians((lat1 + lat2) / 2))
    return EARTH_RADIUS_M * math.hypot(math.radians(lat2 - lat1), x)


def _candidate(reports: list[asyncpg.Record]) -> dict[str, Any]:
    first, last = reports[0], reports[-1]
    # A confidential (保密) report's place is hidden in every list (hub.identity.access): it counts and is listed
    # by ticket, but lends neither its point nor its address to the candidate's place.
    shown = [r for r in reports if not r["confidential"]]
    points = [(r["lat"], r["lng"]) for r in shown if r["lat"] is not None]
    lat = sum(p[0] for p in points) / len(points) if points else None
    lng = sum(p[1] for p in points) / len(points) if points else None
    spread = (max(_metres(lat, lng, p[0], p[1]) for p in points)
              if lat is not None and lng is not None else None)
    area = next((r[c] for c in ("community_code", "township_code", "county_code") for r in reports if r[c]), None)
    return {
        "category_code": first["category_code"], "area_code": area,
        "address": next((r["address"] for r in shown if r["address"]), None),
        "lng": round(lng, 6) if lng is not None else None, "lat": round(lat, 6) if lat is not None else None,
        "spread_m": round(spread, 1) if spread is not None else None, "reports": len(reports),
        # Reports merged into another as duplicates are reports, not separate problems: both counts are shown.
        "problems": sum(r["state"] != "merged" for r in reports),
        "first_reported_at": first["reported_at"].isoformat(), "last_reported_at": last["reported_at"].isoformat(),
        "tickets": [r["ticket_no"] for r in reports if r["ticket_no"]],
        "cases": [{"case_id": str(r["case_id"]), "ticket_no": r["ticket_no"], "state": r["state"],
                   "source": r["source"], "reported_at": r["reported_at"].isoformat()} for r in reports],
    }


async def candidates(source: Reports, pairs: list[tuple[uuid.UUID, uuid.UUID]], min_reports: int, limit: int
                     ) -> list[dict[str, Any]]:
    """The groups of at least `min_reports` reports, most reported first (then the most recent), at most
    `limit`, each with its reports in time order."""
    found = [g for g in groups(pairs) if len(g) >= min_reports]
    if not found:
        return []
    records = await source.reports([x for g in found for x in g])
    by_id = {r["case_id"]: r for r in records}
    out = [_candidate([by_id[x] for x in sorted(g, key=lambda x: (by_id[x]["reported_at"], str(x)))])
           for g in found]
    out.sort(key=lambda c: c["last_reported_at"], reverse=True)
    out.sort(key=lambda c: c["reports"], reverse=True)
    return out[:limit]
