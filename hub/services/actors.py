"""Who did it, for people: an event's `actor` as the consoles show it, with the person's name and unit.

Events record `actor` as "role:username" for people, "system" (or "system:system") for timers and follow-ups,
and "hotline:<key>", "open311:<client>", "iot:<device>" for the channels. A person's action also records the
name and unit they had at the time (`actor_name`, `actor_unit`: an audit trail keeps what was true then, even
after the user is renamed or moves unit). Events written before that, and those of the intake (a grid worker's
report), are described from the users table when read: one query for all the people of a timeline.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import asyncpg

from dispatch.matrix import Matrix
from hub.identity.access import MACHINE_ROLES, USER_ROLES, Principal

AreaChain = Callable[[str], dict[str, dict[str, str]]]


def unit_ref(matrix: Matrix | None, area_chain: AreaChain | None, code: str | None) -> dict[str, str] | None:
    """A unit code with its name: a matrix unit, or an area's own body named from the area's name
    (450103001-gov → 新竹街道人民政府); only the code when neither knows it."""
    if not code:
        return None
    area_code = code.partition("-")[0]
    areas = area_chain(area_code) if area_chain is not None and area_code.isdigit() else {}
    unit = matrix.unit(code, areas) if matrix is not None else None
    if unit is not None:
        return {"code": code, "name": unit.name}
    if code.endswith("-gov"):
        area = next((a for a in areas.values() if a.get("code") == area_code), None)
        if area is not None:
            return {"code": code, "name": f"{area['name']}人民政府"}
    return {"code": code}


def recorded_actor(principal: Principal, matrix: Matrix | None, area_chain: AreaChain | None) -> dict[str, Any]:
    """The metadata a person's action records besides `actor`: their name and unit at the time."""
    out: dict[str, Any] = {"actor_name": principal.display_name or principal.name}
    unit = unit_ref(matrix, area_chain, principal.unit)
    if unit is not None:
        out["actor_unit"] = unit
    return out


def _split(actor: str) -> tuple[str, str]:
    role, _, name = actor.partition(":")
    return role, name


async def describe_actors(pool: asyncpg.Pool, matrix: Matrix | None, area_chain: AreaChain | None,
                          metadata: Iterable[Mapping[str, Any]]) -> list[dict[str, Any] | None]:
    """For each event's metadata, who acted: {"kind": user | system | hotline | open311 | iot | other,
    "role", "name", "unit": {"code", "name"}}; None when the event names nobody."""
    items = list(metadata)
    wanted = {name for m in items if isinstance(m.get("actor"), str) and "actor_name" not in m
              for role, name in [_split(m["actor"])] if role in USER_ROLES and name}
    users: dict[str, asyncpg.Record] = {}
    if wanted:
        rows = await pool.fetch("SELECT username, display_name, unit FROM users WHERE username = ANY($1::text[])",
                                sorted(wanted))
        users = {r["username"]: r for r in rows}
    units: dict[str, dict[str, str] | None] = {}

    def unit_of(code: str | None) -> dict[str, str] | None:
        if code is None:
            return None
        if code not in units:
            units[code] = unit_ref(matrix, area_chain, code)
        return units[code]

    out: list[dict[str, Any] | None] = []
    for m in items:
        actor = m.get("actor")
        if not isinstance(actor, str) or not actor:
            out.append(None)
            continue
        role, name = _split(actor)
        if role == "system":
            out.append({"kind": "system"})
        elif role in MACHINE_ROLES:
            out.append({"kind": role, "name": name})
        elif role in USER_ROLES:
            if "actor_name" in m:
                who = {"kind": "user", "role": role, "name": m["actor_name"], "unit": m.get("actor_unit")}
            else:
                row = users.get(name)
                who = {"kind": "user", "role": role, "name": (row["display_name"] if row else None) or name,
                       "unit": unit_of(row["unit"]) if row else None}
            out.append({k: v for k, v in who.items() if v is not None})
        else:
            out.append({"kind": "other", "name": actor})
    return out
