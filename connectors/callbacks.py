"""Status callbacks to the 12345 hotline system: which events are reported, the JSON body, the HMAC
signature, and the retry ladder. Pure: the hub's outbox (hub.services.outbox) stores and delivers them.

A receiver verifies a delivery by recomputing
    hex(HMAC-SHA256(secret, f"{X-CityLoop-Timestamp}.".encode() + body))
and comparing it with `X-CityLoop-Signature: sha256=<hex>` in constant time, and refuses timestamps more
than a few minutes old (a replayed capture). `seq` numbers a case's callbacks 1, 2, 3 ... in the order of
its events, so the receiver can see order and gaps; `delivery_id` is the same on every retry.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from typing import Final

from dispatch.events import Case, JsonDict

# Event type → what the hotline system is told (PRODUCT.md section 5: dispatch, sign-off, resolution,
# closure and evaluation).
CALLBACK_EVENTS: Final[dict[str, str]] = {
    "case.dispatched": "dispatched",       # 派单 (and 改派)
    "case.accepted": "signed",             # 签收
    "case.resolved": "resolved",           # 办结
    "case.callback_recorded": "evaluated", # 回访评价
    "case.closed": "closed",               # 结案
}
# The state a case is in right after each of these events (callback_recorded changes nothing by itself).
_STATE_AFTER: Final[dict[str, str | None]] = {
    "case.dispatched": "dispatched", "case.accepted": "accepted", "case.resolved": "resolved",
    "case.callback_recorded": None, "case.closed": "closed",
}
SIGNATURE_HEADER: Final = "X-CityLoop-Signature"
TIMESTAMP_HEADER: Final = "X-CityLoop-Timestamp"
DELIVERY_HEADER: Final = "X-CityLoop-Delivery"
EVENT_HEADER: Final = "X-CityLoop-Event"


def callback_url(case: Case, default_url: str | None) -> str | None:
    """Where a hotline case's status goes: the ticket's own `callback_url`, else the configured default.
    Cases from other channels have nobody to call back."""
    if case.get("source") != "hotline":
        return None
    report = case.get("report") or {}
    url = report.get("callback_url") or default_url
    return str(url) if url else None


def status_update(event_type: str, data: JsonDict, case: Case, position: int, occurred_at: str,
                  seq: int) -> JsonDict | None:
    """The body of the callback for one event, or None when the event is not reported."""
    kind = CALLBACK_EVENTS.get(event_type)
    if kind is None:
        return None
    report = case.get("report") or {}
    body: JsonDict = {
        "ticket_no": report.get("ticket_no"), "case_id": case["case_id"], "event": kind, "seq": seq,
        "position": position, "occurred_at": occurred_at, "state": _STATE_AFTER[event_type],
    }
    if event_type == "case.dispatched":
        lead = data.get("lead") or {}
        body["unit"] = {"code": lead.get("code"), "name": lead.get("name")}
        body["deadlines"] = data.get("deadlines") or {}
    elif event_type == "case.resolved":
        body["note"] = data.get("note")
    elif event_type == "case.callback_recorded":
        body |= {k: data.get(k) for k in ("contacted", "solved", "satisfaction")}
    elif event_type == "case.closed":
        body["outcome"] = data.get("outcome")
    return body


def signature(secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify(secret: str, timestamp: str, body: bytes, given: str, now: float, tolerance_s: float = 300) -> bool:
    """What a receiver does (and what the tests' receiver does)."""
    if not timestamp.isdigit() or abs(now - int(timestamp)) > tolerance_s:
        return False
    return hmac.compare_digest(signature(secret, int(timestamp), body), given)


def backoff_s(attempt: int, base_s: float, cap_s: float, rand: Callable[[], float]) -> float:
    """Exponential backoff with full jitter before retry number `attempt` (1 = after the first failure):
    uniformly random up to base·2^(attempt-1), capped — retries from many cases do not arrive in step."""
    growth: int = 2 ** max(0, attempt - 1)  # typeshed types int ** int as Any (a negative power is a float)
    return rand() * min(cap_s, base_s * growth)


def describe_failure(status: int | None, error: str | None) -> str:
    """A failed attempt in words; `error` is a fixed category (hub.services.destinations), never the remote's text."""
    return error or (f"HTTP {status}" if status is not None else "no answer")


