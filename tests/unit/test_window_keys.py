"""How the early-warning windows hold a report (dispatch.window_keys): one int whose order is (time, case id)."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta, timezone

from dispatch.window_keys import ID_MASK, CaseIds, after, micros, moment, moment_at, reports_in_order

MONDAY_10 = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)


def test_a_key_gives_back_its_moment_and_case_id() -> None:
    ids = CaseIds()
    for case_id in [str(uuid.uuid4()), "00000000-0000-0000-0000-000000000000", "case-7", "ABCDEF00-0000-0000-0000-0"]:
        at = MONDAY_10 + timedelta(microseconds=123_457)
        key = ids.key(at, case_id)
        assert moment_at(key) == at and moment(key) == micros(at)
        assert ids.case_id(key & ID_MASK) == case_id
    # a UUID needs no table; other ids do (an upper-case UUID is not the text a hub's UUID has)
    assert ids.tabled == 2


def test_keys_sort_as_the_time_and_case_id_pairs_they_replace() -> None:
    rng = random.Random(5)
    ids = CaseIds()
    moments = [MONDAY_10 + timedelta(seconds=rng.randrange(5)) for _ in range(300)]
    pairs = [(at, str(uuid.UUID(int=rng.getrandbits(128)))) for at in moments]
    assert sorted(pairs) == [(moment_at(k), ids.case_id(k & ID_MASK)) for k in sorted(ids.key(*p) for p in pairs)]
    # a moment in another zone is the same instant
    assert micros(MONDAY_10.astimezone(timezone(timedelta(hours=8)))) == micros(MONDAY_10)


def test_after_skips_every_report_of_its_moment() -> None:
    ids = CaseIds()
    keys = sorted(ids.key(MONDAY_10 + timedelta(microseconds=us), str(uuid.uuid4())) for us in (0, 0, 1, 1, 2))
    from bisect import bisect_left

    assert bisect_left(keys, after(MONDAY_10)) == 2
    assert bisect_left(keys, after(MONDAY_10 + timedelta(microseconds=1))) == 4


def test_reports_of_one_moment_come_in_the_order_of_their_ids_text() -> None:
    ids = CaseIds()
    names = ["case-10", "case-2", "case-1", "b", "a"]  # odd numbers follow first sight, not the text
    keys = sorted(ids.key(MONDAY_10, name) for name in names)
    keys.append(ids.key(MONDAY_10 + timedelta(seconds=1), "0"))
    assert [ids.case_id(k & ID_MASK) for k in reports_in_order(keys, 0, ids)] == \
        ["a", "b", "case-1", "case-10", "case-2", "0"]
    # a window starts where a moment does (bisected with `after`)
    assert [ids.case_id(k & ID_MASK) for k in reports_in_order(keys, 5, ids)] == ["0"]


def test_the_table_of_other_ids_keeps_only_those_still_held() -> None:
    ids = CaseIds()
    kept, dropped = ids.number("kept"), ids.number("dropped")
    ids.keep_only([kept, str_number := ids.number(str(uuid.uuid4()))])
    assert str_number % 2 == 0
    assert ids.tabled == 1 and ids.case_id(kept) == "kept"
    assert ids.number("dropped") != dropped  # a number is never given to another case
