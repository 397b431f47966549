"""What the hub learned from dispatchers' 研判: the table `learned_categories`, and the cached lookup intake uses.

A dispatcher who picks a category for a case whose hotline wording we did not understand teaches the hub that
wording (dispatch.learned decides what may be learned). The entry is written by the committer in the same
transaction as the dispatch event (`project`), so a choice and what was learned from it cannot part; the
in-process map follows at once on commit (`committed`), other processes' maps within `run_watch`'s period.
`lookup` is a dict read on the hot path: the understanding step (`understand(report, learned=lookup)`) calls it
for every ticket.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import asyncpg

from dispatch.events import is_case_event
from dispatch.learned import Learned, known_keys, learned_from, learned_key
from dispatch.matrix import Matrix
from hub.infra.db import Connection
from hub.infra.loops import every
from hub.store.events import Accepted

_LEARN = """
INSERT INTO learned_categories (key, original, code, case_id, learned_by, learned_at)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::uuid[], $5::text[], $6::timestamptz[])
ON CONFLICT (key) DO UPDATE SET original = excluded.original, code = excluded.code, case_id = excluded.case_id,
    learned_by = excluded.learned_by, learned_at = excluded.learned_at, revoked_by = NULL, revoked_at = NULL
"""

_COLUMNS = "key, original, code, case_id, learned_by, learned_at, revoked_by, revoked_at"


class LearnedCategories:
    def __init__(self, pool: asyncpg.Pool, matrix: Matrix | None, generic: Iterable[str] = ()) -> None:
        self._pool = pool
        # Never learned: what the tree knows, and the policy's generic wordings (其他, 市容环境 …), which the
        # understanding step reads the content for before it would consult a learned entry.
        self._known = known_keys(matrix, generic) if matrix is not None else frozenset()
        self._codes: dict[str, str] = {}  # key → leaf code, the entries not revoked
        self._pending: dict[str, str] = {}  # learned in the transaction being committed

    def lookup(self, text: str) -> str | None:
        """The leaf learned for a channel's category wording, if any (cheap: one normalisation, one dict read)."""
        if not self._codes or not isinstance(text, str):
            return None
        return self._codes.get(learned_key(text))

    async def refresh(self) -> None:
        rows = await self._pool.fetch("SELECT key, code FROM learned_categories WHERE revoked_at IS NULL")
        self._codes = {r["key"]: r["code"] for r in rows}

    async def run_watch(self, every_s: float) -> None:
        """Follow what other processes learned and revoked."""
        await every(every_s, self.refresh, failure="learned categories refresh failed; keeping the current map")

    async def project(self, conn: Connection, accepted: Accepted) -> None:
        """In the append transaction: learn from every dispatch in the batch that carries a person's category."""
        self._pending = {}
        learned: list[tuple[Learned, uuid.UUID, str, datetime]] = []
        for req, _result in accepted:
            if not is_case_event(req.events[0].type):
                continue
            report = (req.projection or {}).get("report") or {}
            for event in req.events:
                if event.type != "case.dispatched":
                    continue
                found = learned_from(report, event.data, self._known)
                if found is not None:
                    by = event.data["chosen_by"]
                    learned.append((found, req.stream_id, f"{by.get('role')}:{by.get('name')}", req.occurred_at))
        if not learned:
            return
        await conn.execute(_LEARN, *(list(col) for col in zip(
            *((item.key, item.original, item.code, case_id, by, at) for item, case_id, by, at in learned),
            strict=True)))
        self._pending = {item.key: item.code for item, *_ in learned}

    def committed(self, _position: int) -> None:
        """After the commit: what the batch learned applies to the next ticket at once."""
        if self._pending:
            self._codes = {**self._codes, **self._pending}
            self._pending = {}

    async def entries(self) -> list[dict[str, Any]]:
        """Every entry, revoked ones too, the newest first."""
        rows = await self._pool.fetch(f"SELECT {_COLUMNS} FROM learned_categories ORDER BY learned_at DESC, key")
        return [_entry(r) for r in rows]

    async def revoke(self, key: str, by: str) -> dict[str, Any] | None:
        """Stop applying an entry, recording who and when; None when there is no such entry in force."""
        row = await self._pool.fetchrow(
            f"UPDATE learned_categories SET revoked_by = $2, revoked_at = now() "
            f"WHERE key = $1 AND revoked_at IS NULL RETURNING {_COLUMNS}", key, by)
        if row is None:
            return None
        self._codes = {k: v for k, v in self._codes.items() if k != key}
        return _entry(row)


def _entry(row: asyncpg.Record) -> dict[str, Any]:
    return {"key": row["key"], "original": row["original"], "code": row["code"],
            "learned_from": str(row["case_id"]), "by": row["learned_by"], "at": row["learned_at"].isoformat(),
            "revoked_by": row["revoked_by"],
            "revoked_at": row["revoked_at"].isoformat() if row["revoked_at"] else None}
