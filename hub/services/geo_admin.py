"""`cityloop geo ...`: load a boundary file as a new version, activate a version, list versions."""

from __future__ import annotations

from pathlib import Path

import asyncpg

from geo.validate import PARENT_LEVEL, validate_layer
from hub.services.boundaries import activate, active_versions, load_shapes, store_version
from hub.services.boundary_files import read_boundary_file


async def load_file(pool: asyncpg.Pool, path: Path, level: str, *, make_active: bool, code_field: str | None,
                    name_field: str | None, parent_field: str | None) -> int:
    """Validate and store `path` as a new version of `level`; return its id. Raises ValueError with the
    validation report when the layer is refused."""
    shapes = read_boundary_file(path, level, code_field=code_field, name_field=name_field,
                                parent_field=parent_field)
    parent_level = PARENT_LEVEL.get(level)
    versions = await active_versions(pool)
    parents = await load_shapes(pool, versions[parent_level]) if parent_level in versions else None
    report = validate_layer(shapes, level, parents)
    for warning in report.warnings[:20]:
        print(f"warning: {warning}")
    if not report.ok:
        shown = "\n  ".join(report.errors[:50])
        more = f"\n  … and {len(report.errors) - 50} more" if len(report.errors) > 50 else ""
        raise ValueError(f"{path}: {len(report.errors)} problem(s); nothing was loaded:\n  {shown}{more}")
    async with pool.acquire() as conn:
        version_id = await store_version(conn, level, str(path), shapes, {"file": path.name})
        if make_active:
            await activate(conn, version_id)
    state = "active" if make_active else f"inactive (activate with `cityloop geo activate {version_id}`)"
    print(f"boundary version {version_id}: {len(shapes)} {level} areas from {path.name}, {state}")
    return version_id


async def activate_version(pool: asyncpg.Pool, version_id: int) -> None:
    async with pool.acquire() as conn:
        await activate(conn, version_id)
    print(f"boundary version {version_id} is now active; running hubs switch within a few seconds")


async def list_versions(pool: asyncpg.Pool) -> None:
    rows = await pool.fetch(
        "SELECT v.id, v.level, v.source, v.synthetic, v.active, v.loaded_at, count(a.code) AS n "
        "FROM boundary_versions v LEFT JOIN areas a ON a.version_id = v.id GROUP BY v.id ORDER BY v.id")
    for r in rows:
        flags = ("active " if r["active"] else "       ") + ("synthetic" if r["synthetic"] else "")
        print(f"{r['id']:>4} {r['level']:<10} {r['n']:>6} areas  {flags:<16} {r['loaded_at']:%Y-%m-%d %H:%M}  "
              f"{r['source']}")
