"""A table rebuilt beside the live one and swapped in by rename: the projection rebuild's last step.

The copy (`<table>_next`) is created like the live table but without its indexes, filled by COPY, then given
every index and constraint the live table has — read from the catalog, not restated, so whatever the
migrations made (and later ones make) comes along under its own name — and the live table's owner, grants,
storage parameters, column statistics targets and comment. `swap`, under the caller's locks, renames the live
table and its indexes to `<name>_old`, the copy and its indexes to the live names (a later migration finds
`cases_state` where it always was), and compares the two tables' catalog descriptions (`shape`): if anything
differs the caller's transaction rolls back and nothing is swapped.

What a rename would leave pointing at the old table, or what the copy cannot carry — triggers, views, rules
and policies on the table, foreign keys, publications naming it, extended statistics, sequences it owns,
column privileges, inheritance — `refusals` names before any work is done: the rebuild must learn to carry it
first.
"""

from __future__ import annotations

from typing import Any

from hub.infra.db import Connection

NEXT, OLD = "_next", "_old"
_AUTOVACUUM = "autovacuum_enabled="  # as pg_class.reloptions spells it
# PostgreSQL truncates longer identifiers (63 bytes): a suffixed name must still be whole.
_MAX_NAME = 63 - max(len(NEXT), len(OLD))


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def copy_of(table: str) -> str:
    return table + NEXT


def old_of(table: str) -> str:
    return table + OLD


# Anything that depends on the table other than its own parts (row type, TOAST table, indexes, column defaults,
# the constraints `build_indexes` and LIKE carry), and what the catalog keeps outside pg_depend.
_REFUSALS = """
WITH t AS (SELECT oid, reltype, reltoastrelid, relkind, relpersistence, relrowsecurity, relforcerowsecurity
           FROM pg_class WHERE oid = $1::regclass)
SELECT pg_describe_object(d.classid, d.objid, d.objsubid) AS what
FROM pg_depend d, t
WHERE d.refclassid = 'pg_class'::regclass AND d.refobjid = t.oid
  AND NOT (d.classid = 'pg_type'::regclass AND d.objid = t.reltype)
  AND NOT (d.classid = 'pg_class'::regclass
           AND (d.objid = t.reltoastrelid OR d.objid IN (SELECT indexrelid FROM pg_index WHERE indrelid = t.oid)))
  AND NOT (d.classid = 'pg_attrdef'::regclass AND d.objid IN (SELECT oid FROM pg_attrdef WHERE adrelid = t.oid))
  AND NOT (d.classid = 'pg_constraint'::regclass
           AND d.objid IN (SELECT oid FROM pg_constraint
                           WHERE conrelid = t.oid AND contype IN ('p', 'u', 'x', 'c', 'n')))
UNION
SELECT 'privileges on column ' || attname FROM pg_attribute, t WHERE attrelid = t.oid AND attacl IS NOT NULL
UNION
SELECT 'row level security' FROM t WHERE relrowsecurity OR relforcerowsecurity
UNION
SELECT 'a kind other than a plain logged table' FROM t WHERE relkind <> 'r' OR relpersistence <> 'p'
UNION
SELECT 'inherits from ' || inhparent::regclass::text FROM pg_inherits, t WHERE inhrelid = t.oid
UNION
SELECT 'the name ' || relname || ' is too long for a suffix' FROM pg_class
WHERE (oid = $1::regclass OR oid IN (SELECT indexrelid FROM pg_index WHERE indrelid = $1::regclass))
  AND octet_length(relname) > $2
"""


async def refusals(conn: Connection, table: str) -> list[str]:
    """What swapping a copy of `table` in would lose or leave behind (empty: nothing)."""
    return [r["what"] for r in await conn.fetch(_REFUSALS, table, _MAX_NAME)]


async def create_copy(conn: Connection, table: str) -> str:
    """An empty copy of `table` (columns, defaults, NOT NULL and CHECK constraints, storage, comments, storage
    parameters, column statistics targets) without indexes, replacing any a failed rebuild left; its name.
    Autovacuum stays off it until the swap: a worker on it would hold the rename up."""
    copy = copy_of(table)
    await conn.execute(f"DROP TABLE IF EXISTS {quote(copy)}, {quote(old_of(table))}")
    live = await _table(conn, table)
    options = [o for o in live["reloptions"] or [] if not o.startswith(_AUTOVACUUM)]
    options += ["toast." + o for o in live["toast_options"] or [] if not o.startswith(_AUTOVACUUM)]
    options += [_AUTOVACUUM + "false", "toast." + _AUTOVACUUM + "false"]
    await conn.execute(f"CREATE TABLE {quote(copy)} (LIKE {quote(table)} INCLUDING ALL EXCLUDING INDEXES) "
                       f"WITH ({', '.join(options)})")
    for r in await conn.fetch("SELECT attname, attstattarget::int AS target FROM pg_attribute WHERE attrelid = "
                              "$1::regclass AND attnum > 0 AND NOT attisdropped AND attstattarget >= 0", table):
        await conn.execute(f"ALTER TABLE {quote(copy)} ALTER COLUMN {quote(r['attname'])} SET STATISTICS {r['target']}")
    if live["comment"] is not None:
        await conn.execute(f"COMMENT ON TABLE {quote(copy)} IS {_literal(live['comment'])}")
    return copy


_INDEXES = """
SELECT c.relname AS name, pg_get_indexdef(i.indexrelid) AS def, i.indisclustered AS clustered,
       i.indisreplident AS replident, con.contype::text, con.condeferrable AS deferrable, con.condeferred AS deferred,
       pg_get_constraintdef(con.oid) AS condef
FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
LEFT JOIN pg_constraint con
       ON con.conindid = i.indexrelid AND con.conrelid = i.indrelid AND con.contype IN ('p', 'u', 'x')
WHERE i.indrelid = $1::regclass ORDER BY c.relname
"""


async def build_indexes(conn: Connection, table: str, *, keys_only: bool = False) -> None:
    """Give the copy of `table` the indexes and index-backed constraints of `table`, named `<name>_next`
    (`keys_only`: only the primary key and unique constraints, for a copy that is never swapped in)."""
    copy = copy_of(table)
    for ix in await conn.fetch(_INDEXES, table):
        if keys_only and ix["contype"] not in ("p", "u"):
            continue
        name = quote(ix["name"] + NEXT)
        if ix["contype"] == "x":  # an exclusion constraint builds its own index
            await conn.execute(f"ALTER TABLE {quote(copy)} ADD CONSTRAINT {name} {ix['condef']}")
        else:
            unique = "UNIQUE " if ix["def"].startswith("CREATE UNIQUE INDEX ") else ""
            await conn.execute(f"CREATE {unique}INDEX {name} ON {quote(copy)} USING {_using(ix['def'])}")
        if ix["contype"] in ("p", "u"):
            kind = "PRIMARY KEY" if ix["contype"] == "p" else "UNIQUE"
            timing = (" DEFERRABLE" + (" INITIALLY DEFERRED" if ix["deferred"] else "")) if ix["deferrable"] else ""
            await conn.execute(f"ALTER TABLE {quote(copy)} ADD CONSTRAINT {name} {kind} USING INDEX {name}{timing}")
        if keys_only:
            continue
        if ix["clustered"]:
            await conn.execute(f"ALTER TABLE {quote(copy)} CLUSTER ON {name}")
        if ix["replident"]:
            await conn.execute(f"ALTER TABLE {quote(copy)} REPLICA IDENTITY USING INDEX {name}")
    if not keys_only:
        identity = {"f": "FULL", "n": "NOTHING"}.get((await _table(conn, table))["relreplident"])
        if identity:
            await conn.execute(f"ALTER TABLE {quote(copy)} REPLICA IDENTITY {identity}")


async def carry_access(conn: Connection, table: str) -> None:
    """The copy of `table` gets the live table's owner and exactly its grants (what default privileges gave
    the copy is taken back). Last, after the rebuild's own DDL on the copy."""
    copy, live = copy_of(table), await _table(conn, table)
    if (await _table(conn, copy))["owner"] != live["owner"]:
        await conn.execute(f"ALTER TABLE {quote(copy)} OWNER TO {quote(live['owner'])}")
    for grantee in {g for g, _, _ in await _grants(conn, copy)} - {live["owner"]}:
        await conn.execute(f"REVOKE ALL ON {quote(copy)} FROM {_grantee(grantee)}")
    for grantee, privilege, grantable in await _grants(conn, table):
        if grantee != live["owner"]:
            option = " WITH GRANT OPTION" if grantable else ""
            await conn.execute(f"GRANT {privilege} ON {quote(copy)} TO {_grantee(grantee)}{option}")


async def swap(conn: Connection, table: str) -> None:
    """Inside the caller's transaction, which holds ACCESS EXCLUSIVE on `table`: the copy takes its place and
    its names, the old table becomes `<table>_old` (the caller drops it after the commit). Raises, for the
    caller to roll back, if the two differ in anything the catalog shows."""
    copy, old = copy_of(table), old_of(table)
    live_indexes = [r["name"] for r in await conn.fetch(_INDEXES, table)]
    live = await _table(conn, table)
    statements = [f"ALTER TABLE {quote(table)} RENAME TO {quote(old)}"]
    statements += [f"ALTER INDEX {quote(name)} RENAME TO {quote(name + OLD)}" for name in live_indexes]
    statements.append(f"ALTER TABLE {quote(copy)} RENAME TO {quote(table)}")
    statements += [f"ALTER INDEX {quote(name + NEXT)} RENAME TO {quote(name)}" for name in live_indexes]
    # Autovacuum back on (or as the live table had it), now that the rename is done.
    statements.append(f"ALTER TABLE {quote(table)} RESET (autovacuum_enabled, toast.autovacuum_enabled)")
    kept = [o for o in live["reloptions"] or [] if o.startswith(_AUTOVACUUM)]
    kept += ["toast." + o for o in live["toast_options"] or [] if o.startswith(_AUTOVACUUM)]
    if kept:
        statements.append(f"ALTER TABLE {quote(table)} SET ({', '.join(kept)})")
    await conn.execute(";\n".join(statements))
    before, after = await shape(conn, old, OLD), await shape(conn, table)
    if before != after:
        changed = [f"{k}: {before[k]!r} became {after[k]!r}" for k in before if before[k] != after[k]]
        raise RuntimeError(f"the rebuilt {table} differs from the live one: {'; '.join(changed)}")


_COLUMNS = """
SELECT a.attname, format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull, a.attidentity, a.attgenerated,
       a.attstorage, a.attcompression, coalesce(a.attstattarget::int, -1) AS stattarget, a.attcollation,
       pg_get_expr(d.adbin, d.adrelid) AS default, col_description(a.attrelid, a.attnum) AS comment
FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum
"""
_CONSTRAINTS = """
SELECT conname, contype::text, pg_get_constraintdef(oid) AS def, condeferrable, condeferred, convalidated, connoinherit
FROM pg_constraint WHERE conrelid = $1::regclass AND contype NOT IN ('p', 'u', 'x') ORDER BY conname
"""
_TABLE = """
SELECT pg_get_userbyid(c.relowner) AS owner, c.reloptions, t.reloptions AS toast_options, c.relreplident::text,
       c.relkind::text, c.relpersistence::text, c.relrowsecurity, c.relforcerowsecurity,
       obj_description(c.oid, 'pg_class') AS comment
FROM pg_class c LEFT JOIN pg_class t ON t.oid = c.reltoastrelid WHERE c.oid = $1::regclass
"""
# Table privileges whoever granted them, the owner's defaults spelt out.
_GRANTS = """
SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee) END AS grantee, a.privilege_type,
       a.is_grantable
FROM pg_class c, aclexplode(coalesce(c.relacl, acldefault('r', c.relowner))) a WHERE c.oid = $1::regclass
ORDER BY 1, 2, 3
"""


async def shape(conn: Connection, table: str, suffix: str = "") -> dict[str, Any]:
    """What the catalog says of `table` that a swap must keep (names without `suffix`): its columns, indexes,
    constraints, owner, grants, storage parameters, replica identity, comments."""
    indexes = []
    for ix in await conn.fetch(_INDEXES, table):
        name = ix["name"].removesuffix(suffix) if suffix else ix["name"]
        indexes.append((name, ix["def"].startswith("CREATE UNIQUE INDEX "), _using(ix["def"]),
                        *(ix[k] for k in ("clustered", "replident", "contype", "deferrable", "deferred", "condef"))))
    return {
        "columns": [tuple(r) for r in await conn.fetch(_COLUMNS, table)],
        "indexes": sorted(indexes),
        "constraints": [tuple(r) for r in await conn.fetch(_CONSTRAINTS, table)],
        # Storage parameters sorted: the swap sets some back after the others.
        "table": tuple(sorted(v) if k.endswith("options") and v else v for k, v in (await _table(conn, table)).items()),
        "grants": await _grants(conn, table),
    }


async def _table(conn: Connection, table: str) -> Any:
    return await conn.fetchrow(_TABLE, table)


async def _grants(conn: Connection, table: str) -> list[tuple[str, str, bool]]:
    return [(r["grantee"], r["privilege_type"], r["is_grantable"]) for r in await conn.fetch(_GRANTS, table)]


def _grantee(name: str) -> str:
    return name if name == "PUBLIC" else quote(name)


def _using(indexdef: str) -> str:
    """What follows "USING" in `pg_get_indexdef`'s CREATE INDEX: method, keys, INCLUDE, WITH, WHERE — everything
    but the index's and the table's names."""
    return indexdef.split(" USING ", 1)[1]


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
