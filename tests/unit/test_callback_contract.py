"""The callback contract: which events are reported, the signature a receiver checks, the retry ladder."""

from __future__ import annotations

import hashlib
import hmac
import random
from typing import cast

from connectors.callbacks import backoff_s, callback_url, signature, status_update, verify
from dispatch.case import Case

# Only the keys a callback reads.
CASE = cast(Case, {"case_id": "c-1", "source": "hotline", "report": {"ticket_no": "T1", "callback_url": "http://h/cb"}})


def test_signature_is_hmac_sha256_over_timestamp_dot_body() -> None:
    body = b'{"event":"signed"}'
    expected = hmac.new(b"s3cret", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert signature("s3cret", 1700000000, body) == f"sha256={expected}"
    assert verify("s3cret", "1700000000", body, f"sha256={expected}", now=1700000100)


def test_verify_refuses_tampering_wrong_key_and_stale_timestamps() -> None:
    body = b'{"event":"closed"}'
    good = signature("k", 1700000000, body)
    assert not verify("k", "1700000000", body + b" ", good, now=1700000000)
    assert not verify("other", "1700000000", body, good, now=1700000000)
    assert not verify("k", "1700000000", body, good, now=1700000000 + 301)
    assert not verify("k", "not-a-time", body, good, now=1700000000)


def test_backoff_grows_exponentially_within_the_cap_and_is_jittered() -> None:
    rng = random.Random(7)
    for attempt in range(1, 12):
        ceiling = min(60.0, 2.0 * 2 ** (attempt - 1))
        samples = [backoff_s(attempt, 2.0, 60.0, rng.random) for _ in range(200)]
        assert all(0 <= s <= ceiling for s in samples)
        assert max(samples) > 0.8 * ceiling and min(samples) < 0.2 * ceiling  # full jitter spreads retries
    assert backoff_s(1, 2.0, 60.0, lambda: 1.0) == 2.0 and backoff_s(3, 2.0, 60.0, lambda: 1.0) == 8.0


def test_reported_events_and_their_bodies() -> None:
    dispatched = status_update("case.dispatched", {"lead": {"code": "450103-cgj", "name": "青秀区城市管理局"},
                                                   "deadlines": {"sign_by": "x"}}, CASE, 10, "t", 1)
    assert dispatched is not None and dispatched["unit"]["name"] == "青秀区城市管理局"
    assert dispatched["event"] == "dispatched" and dispatched["ticket_no"] == "T1" and dispatched["seq"] == 1
    evaluated = status_update("case.callback_recorded", {"contacted": True, "solved": False,
                                                         "satisfaction": "dissatisfied"}, CASE, 11, "t", 2)
    assert evaluated is not None and evaluated["satisfaction"] == "dissatisfied" and evaluated["state"] is None
    assert status_update("case.commented", {"note": "x"}, CASE, 12, "t", 3) is None


def test_only_hotline_cases_are_called_back_and_the_ticket_url_wins() -> None:
    assert callback_url(CASE, "http://default/cb") == "http://h/cb"
    assert callback_url({**CASE, "report": {"ticket_no": "T2"}}, "http://default/cb") == "http://default/cb"
    assert callback_url({**CASE, "report": {"ticket_no": "T2"}}, None) is None
    assert callback_url({**CASE, "source": "iot"}, "http://default/cb") is None
