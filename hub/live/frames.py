"""What the consoles are sent, read once from the store and encoded once: event rows, patches, frames.

An event's frame says what happened (`event`: its type, version, actor and times; the event's data is the case's
timeline's, read by REST) and what it changed (`case`). `case` is a patch — the top-level fields its type writes
(dispatch.changes), with their values as of the case's current `version`, plus `case_id`, `version` and
`"patch": true` — picked from the case document in SQL, so the hub never decodes a whole document to send a few
fields. Where a console may not hold the case yet (dispatch.changes.needs_whole_case: the case's first event, one
that places it, one that reopens it) the whole case is sent. A later event of a case already sent whole in the
same frame carries an empty patch: its fields, read in the same statement, have just been sent. Whole or patch,
the case is in its feed form (dispatch.changes.feed_form: no fields only the case's own screen shows, the SLA
schedule's due times only). Redaction (hub.identity.access) treats a patch exactly as the same fields of the
whole case.

A subscription's view is LIST_VIEW, or for a unit's staff a view naming the unit (hub.identity.access.list_view):
a row is encoded in the view it resolves to (`shown_as`), so every row of a case that is not confidential, or not
that unit's, shares the masked encoding; only a confidential case's rows get a second one, for its units' staff.
The statement reads a patch's `units` only for confidential cases.
"""

from __future__ import annotations

import enum
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final, Protocol, cast

import asyncpg
import orjson

from dispatch.case import area_codes
from dispatch.changes import ALWAYS_WRITTEN, WHOLE_CASE_EVENTS, WRITTEN_FIELDS, feed_fields, feed_form
from dispatch.directives import DIRECTIVE_EVENT_PREFIX
from dispatch.events import Case, is_case_event
from dispatch.incidents import INCIDENT_EVENT_PREFIX
from geo.areas import code_prefix
from hub.identity.access import (
    CITY_CODE,
    UNIT_VIEW_PREFIX,
    handling_units,
    listed_view_of,
    redact_case,
    redact_case_fields,
)
from hub.infra.db import Connection
from hub.store.alerts import ALERT_EVENT_PREFIX, shown_alert
from hub.store.directives import directive_visible


def _literal(value: Any) -> str:
    """A constant for the statement below, as an SQL string literal of its JSON."""
    return "'" + orjson.dumps(value).decode().replace("'", "''") + "'"


def _text_array(values: Iterable[str]) -> str:
    return "ARRAY[" + ", ".join("'" + v.replace("'", "''") + "'" for v in sorted(values)) + "]::text[]"


# The per-type field lists and the types that go whole come from dispatch.changes, compiled into the statement.
# Imported history (metadata `imported`, hub.services.history_import) is read for its position only: a
# console shows what happens now, and ten thousand tickets of last month arriving in a second would bury it
# (the imported cases still open appear in the next snapshot, like any case).
# The case document is detoasted once per row (`doc || '{}'` in a lateral that is not flattened) instead of
# once per field picked; whole documents come as text and are decoded only if a frame needs them whole.
# The alert, directive and incident documents are read by a second statement (_OTHERS), only for a page that has
# such events: joined here, they were three more probes per case event, and the planning of the larger statement
# (PostgreSQL plans it afresh at each read: its parameters make a generic plan look dearer) cost more than the
# execution of a live page.
_FEED_FIELDS: Final = {t: sorted(feed_fields(t)) for t in WRITTEN_FIELDS}
_READ: Final = f"""
SELECT e.position, e.stream_id, e.version, e.type, e.metadata ->> 'actor' AS actor,
       e.metadata -> 'scope' AS scope, e.occurred_at, e.recorded_at, c.version AS case_version, w.whole, imp.imported,
       CASE WHEN w.whole THEN c.doc::text END AS doc,
       CASE WHEN x.doc IS NOT NULL THEN (
           SELECT jsonb_object_agg(f, x.doc -> f)
           FROM jsonb_array_elements_text(coalesce({_literal(_FEED_FIELDS)}::jsonb
                                                   -> e.type, {_literal(sorted(ALWAYS_WRITTEN))}::jsonb)) AS f)
       END AS patch,
       x.doc #> '{{report,confidential}}' AS confidential,
       CASE WHEN x.doc #> '{{report,confidential}}' NOT IN ('false'::jsonb, 'null'::jsonb)
            THEN x.doc -> 'units' END AS units
FROM events e
LEFT JOIN cases c ON c.case_id = e.stream_id
CROSS JOIN LATERAL (SELECT coalesce(e.metadata ? 'imported', false) AS imported) imp
CROSS JOIN LATERAL (
    SELECT NOT imp.imported AND (e.version = 1 OR e.type = ANY({_text_array(WHOLE_CASE_EVENTS)})
           OR NOT coalesce(e.metadata ? 'scope', false)) AS whole) w
LEFT JOIN LATERAL (SELECT CASE WHEN NOT w.whole AND NOT imp.imported THEN c.doc || '{{}}'::jsonb END AS doc
                   OFFSET 0) x ON true
WHERE e.position > $1 ORDER BY e.position LIMIT $2
"""
# The documents of the page's other streams as they are now (an incident's with its version and how many cases
# it holds), keyed by kind and id.
_OTHERS: Final = """
SELECT 'alert' AS kind, alert_id AS id, doc::text AS doc FROM alerts WHERE alert_id = ANY($1::uuid[])
UNION ALL
SELECT 'directive', directive_id, doc::text FROM directives WHERE directive_id = ANY($2::uuid[])
UNION ALL
SELECT 'incident', i.incident_id, (i.doc || jsonb_build_object('version', i.version, 'linked',
       (SELECT count(*) FROM incident_cases l WHERE l.incident_id = i.incident_id)))::text
FROM incidents i WHERE i.incident_id = ANY($3::uuid[])
"""
_KINDS: Final = (("alert", ALERT_EVENT_PREFIX), ("directive", DIRECTIVE_EVENT_PREFIX),
                 ("incident", INCIDENT_EVENT_PREFIX))


def stream_kind(event_type: str) -> str | None:
    """"alert", "directive" or "incident" for those streams' events; None for a case's (or an unknown kind's)."""
    for kind, prefix in _KINDS:
        if event_type.startswith(prefix):
            return kind
    return None


class Record(Protocol):
    """A row of the statement above (an asyncpg.Record; a plain dict in unit tests)."""

    def __getitem__(self, key: str, /) -> Any: ...


class Form(enum.Enum):
    WHOLE = "whole"
    PATCH = "patch"
    COVERED = "covered"  # an empty patch: the same frame already carried the case whole at this version


_MISSING: Final = object()


class FeedRow:
    """One committed event as the consoles need it: decoded once per read, encoded once per (view, form)."""

    __slots__ = ("_doc", "_encoded", "_event_encoded", "_feed_doc", "_feed_patch", "_handling", "_record", "alert",
                 "case_id", "codes", "directive", "directive_doc", "imported", "position", "whole")

    def __init__(self, record: Record, other: str | None = None) -> None:
        """`other`: for an alert's, a directive's or an incident's event, that document as read by _OTHERS."""
        self._record = record
        self.position: int = record["position"]
        self.case_id = str(record["stream_id"])
        self.whole: bool = bool(record["whole"])
        self.imported: bool = bool(record["imported"])  # shown to no console (see the statement above)
        self._doc: Any = _MISSING
        self._handling: tuple[bool, frozenset[str]] | None = None
        self._event_encoded: bytes | None = None
        self._feed_doc: dict[str, Any] | None = None
        self._feed_patch: dict[str, Any] | None = None
        self._encoded: dict[tuple[str, Form], bytes] = {}
        # An alert's event goes out as an `alert` frame, an incident's as an `incident` frame (the incident as it
        # is now, with the event's type), to whoever watches its areas (its `scope`); events of other streams that
        # are not cases (issue 18's directives…) are not part of this feed yet. `alert` holds such a frame.
        self.alert: bytes | None = None
        # A directive's event goes out as a `directive` frame (the directive as of now) to the consoles of its
        # issuer's and its recipients' areas (its `scope`), a unit's staff only for their unit's (directive_visible).
        self.directive: bytes | None = None
        self.directive_doc: Any = None
        if not is_case_event(record["type"]):
            self.codes: tuple[str, ...] = ()
            kind = stream_kind(record["type"])
            if other is None or kind is None:
                return
            if kind == "alert":
                self.alert = orjson.dumps({"type": "alert", "position": self.position,
                                           "alert": shown_alert(orjson.loads(other))})
                self.codes = tuple(record["scope"] or ())
            elif kind == "directive":
                self.directive_doc = orjson.loads(other)
                self.directive = orjson.dumps({"type": "directive", "position": self.position,
                                               "directive": orjson.Fragment(other)})
                self.codes = tuple(record["scope"] or ())
            else:
                self.alert = orjson.dumps({"type": "incident", "position": self.position, "event": record["type"],
                                           "incident": orjson.loads(other)})
                self.codes = tuple(record["scope"] or ()) or (CITY_CODE,)
            return
        # Visibility follows where the case was when this happened (`scope`: its area codes before and after);
        # an event recorded without one goes by where the case is now. Unplaced cases belong to the city.
        scope = record["scope"]
        if scope is None:
            doc = self.doc()
            scope = area_codes(doc) if doc is not None else []
        self.codes = tuple(scope) or (CITY_CODE,)

    def doc(self) -> Any:
        """The whole case document (only rows that go whole carry it)."""
        if self._doc is _MISSING:
            text = self._record["doc"]
            self._doc = orjson.loads(text) if text is not None else None
        return self._doc

    def shown_as(self, view: str) -> str:
        """The view this row is encoded in for a subscription's view: a unit's view resolves per case
        (hub.identity.access.listed_view_of) to "content" or the masked view."""
        if not view.startswith(UNIT_VIEW_PREFIX):
            return view
        if self._handling is None:
            self._handling = self._confidential_units()
        confidential, units = self._handling
        return listed_view_of(view, confidential, units)

    def _confidential_units(self) -> tuple[bool, frozenset[str]]:
        if self.whole:
            doc = self.doc()
            if doc is None:
                return False, frozenset()
            return bool((doc.get("report") or {}).get("confidential")), handling_units(doc)
        units = self._record["units"]
        return bool(self._record["confidential"]), handling_units({"units": units}) if units else frozenset()

    def encoded(self, view: str, form: Form) -> bytes:
        view = self.shown_as(view)
        key = (view, form)
        out = self._encoded.get(key)
        if out is None:
            out = self._encoded[key] = orjson.dumps({
                "type": "event", "position": self.position, "case_id": self.case_id,
                "event": orjson.Fragment(self._event()), "case": self._case(view, form)})
        return out

    def _event(self) -> bytes:
        """What happened, the same for every view (no data: nothing in it to mask)."""
        if self._event_encoded is None:
            r = self._record
            self._event_encoded = orjson.dumps({
                "type": r["type"], "version": r["version"], "actor": r["actor"],
                "occurred_at": r["occurred_at"].isoformat(), "recorded_at": r["recorded_at"].isoformat()})
        return self._event_encoded

    def _case(self, view: str, form: Form) -> Mapping[str, object] | None:
        r = self._record
        version = r["case_version"]
        if version is None:  # no case row (cannot happen once the projection has run): nothing to show
            return None
        if form is Form.WHOLE:
            if self._feed_doc is None:
                self._feed_doc = feed_form(self.doc())
            return redact_case(cast(Case, self._feed_doc), view)
        head = {"case_id": self.case_id, "version": version, "patch": True}
        if form is Form.COVERED or r["patch"] is None:
            return head
        if self._feed_patch is None:
            self._feed_patch = feed_form(r["patch"])
        return {**redact_case_fields(self._feed_patch, view, confidential=bool(r["confidential"])), **head}


async def read_rows(conn: Connection | asyncpg.Pool, after: int, limit: int) -> list[FeedRow]:
    records = await conn.fetch(_READ, after, limit)
    wanted: dict[str, set[Any]] = {kind: set() for kind, _prefix in _KINDS}
    for r in records:
        if (kind := stream_kind(r["type"])) is not None:
            wanted[kind].add(r["stream_id"])
    others: dict[tuple[str, Any], str] = {}
    if any(wanted.values()):
        others = {(o["kind"], o["id"]): o["doc"] for o in await conn.fetch(
            _OTHERS, *(list(wanted[kind]) for kind, _prefix in _KINDS))}
    return [FeedRow(r, others.get((kind, r["stream_id"])) if (kind := stream_kind(r["type"])) else None)
            for r in records]


_BATCH_HEAD: Final = b'{"type":"batch","events":['
_BATCH_TAIL: Final = b"]}"


def batch_frame(rows: Iterable[FeedRow], view: str) -> bytes:
    """One `batch` frame of rows (all from one read, in position order) for one privacy view."""
    sent_whole: set[str] = set()
    parts = []
    for row in rows:
        if row.alert is not None:
            parts.append(row.alert)  # the same for every view: an alert names no person
            continue
        if row.directive is not None:
            # The same for every view that sees it; a unit's staff see only their unit's directives (the area
            # index has already matched the subscription's areas).
            if not view.startswith(UNIT_VIEW_PREFIX) or directive_visible(row.directive_doc, view, frozenset()):
                parts.append(row.directive)
            continue
        if row.case_id in sent_whole:
            form = Form.COVERED
        elif row.whole:
            form = Form.WHOLE
            sent_whole.add(row.case_id)
        else:
            form = Form.PATCH
        parts.append(row.encoded(view, form))
    return _BATCH_HEAD + b",".join(parts) + _BATCH_TAIL


class ScopeIndex:
    """Which subscriptions see which rows. Area codes nest by prefix (geo.areas.code_within), so each row's codes
    are looked up under the prefixes the subscriptions watch — a few dictionary lookups per row, however many
    subscriptions there are — instead of testing every row against every subscription."""

    def __init__(self, subscriptions: Iterable[frozenset[str]]) -> None:
        self._watchers: dict[str, list[frozenset[str]]] = defaultdict(list)
        for scopes in set(subscriptions):
            for scope in scopes:
                self._watchers[code_prefix(scope)].append(scopes)
        self._lengths = sorted({len(prefix) for prefix in self._watchers})

    def split(self, rows: Sequence[FeedRow]) -> dict[frozenset[str], list[FeedRow]]:
        """The rows each subscription sees, in the order given (each row once)."""
        out: dict[frozenset[str], list[FeedRow]] = defaultdict(list)
        watchers, lengths = self._watchers, self._lengths
        for row in rows:
            if row.imported:
                continue
            for code in row.codes:
                for n in lengths:
                    if len(code) < n:
                        break
                    for scopes in watchers.get(code[:n], ()):
                        seen = out[scopes]
                        if not seen or seen[-1] is not row:
                            seen.append(row)
        return out
