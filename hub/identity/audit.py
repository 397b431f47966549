"""The access audit (安全审计, 等保 2.0 / GB/T 22239): who read unmasked personal data, whose sign-in failed or
was locked out, who signed out, which account was disabled — when, which case, through which path.

Entries live in `audit_log`, which PostgreSQL itself keeps append-only (migration 0010 refuses UPDATE, DELETE
and TRUNCATE), so the hub can add entries and read them, never change them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, get_args

import asyncpg

from hub.infra.db import Connection

Kind = Literal["personal_data_read", "login_failed", "login_locked", "logout", "user_disabled"]
KINDS: tuple[str, ...] = get_args(Kind)

_COLUMNS = "id, at, kind, username, role, address, case_id, path, detail"


async def record(db: asyncpg.Pool | Connection, kind: Kind, *, username: str | None,
                 role: str | None = None, address: str | None = None, case_id: uuid.UUID | str | None = None,
                 path: str | None = None, detail: dict[str, Any] | None = None) -> None:
    """Append one entry. Callers await it before answering: a read that cannot be recorded is not served."""
    await db.execute(
        "INSERT INTO audit_log (kind, username, role, address, case_id, path, detail) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7)",
        kind, username, role, address, uuid.UUID(str(case_id)) if case_id is not None else None, path,
        detail or {})


@dataclass(frozen=True, slots=True)
class AuditFilter:
    kind: str | None = None
    username: str | None = None
    case_id: uuid.UUID | None = None
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive
    before_id: int | None = None  # the cursor: entries older than this one
    limit: int = 100


async def entries(pool: asyncpg.Pool, where: AuditFilter) -> list[dict[str, Any]]:
    """Entries matching `where`, newest first (by id: ids are handed out in insertion order)."""
    clauses: list[str] = []
    args: list[Any] = []
    for column, op, value in (("kind", "=", where.kind), ("username", "=", where.username),
                              ("case_id", "=", where.case_id), ("at", ">=", where.since),
                              ("at", "<", where.until), ("id", "<", where.before_id)):
        if value is not None:
            args.append(value)
            clauses.append(f"{column} {op} ${len(args)}")
    args.append(where.limit)
    rows = await pool.fetch(
        f"SELECT {_COLUMNS} FROM audit_log {'WHERE ' + ' AND '.join(clauses) if clauses else ''} "
        f"ORDER BY id DESC LIMIT ${len(args)}", *args)
    return [{"id": r["id"], "at": r["at"].isoformat(), "kind": r["kind"], "username": r["username"],
             "role": r["role"], "address": r["address"],
             "case_id": str(r["case_id"]) if r["case_id"] is not None else None, "path": r["path"],
             "detail": r["detail"]} for r in rows]
