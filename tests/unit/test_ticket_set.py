"""The shape of tests/fixtures/tickets_labelled.csv, the labelled set intake's category understanding is
measured on (issue 16; how it was made: tests/fixtures/make_ticket_set.py). A broken hand edit of the file
fails here rather than silently changing the measured figures.
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from pathlib import Path

import pytest

from dispatch.policy import Policy
from hub.data import DEMO_POLICY_FILE
from tests.fixtures.make_ticket_set import COLUMNS, problems, splits

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "tickets_labelled.csv"
MIN_ROWS = 520
MIN_PER_LEAF = 20
MIN_PER_LEAF_TEST = 8
# Words that look like danger; a row holding one with danger=0 is a near miss ("没闻到煤气味", "还没有塌").
DANGER_LOOKING = re.compile("受伤|被困|煤气|燃气|漏气|塌|触电|漏电|掉下去|掉进|起火|着火|爆炸|砸到|冒烟")


@pytest.fixture(scope="module")
def raw() -> bytes:
    return FIXTURE.read_bytes()


@pytest.fixture(scope="module")
def rows(raw: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(raw.decode("utf-8").splitlines()))


@pytest.fixture(scope="module")
def leaf_codes() -> set[str]:
    matrix = Policy.model_validate_json(DEMO_POLICY_FILE.read_text(encoding="utf-8")).matrix
    assert matrix is not None
    return {path[-1].code for path in matrix.leaves()}


def test_utf8_header_and_no_nul(raw: bytes) -> None:
    text = raw.decode("utf-8")  # strict: a stray byte fails
    assert text.splitlines()[0] == ",".join(COLUMNS)
    assert "\x00" not in text
    assert not text.startswith("\ufeff")


def test_every_row_has_exactly_the_columns(rows: list[dict[str, str]]) -> None:
    assert len(rows) >= MIN_ROWS
    for row in rows:
        assert list(row) == COLUMNS and None not in row.values(), row


def test_ids_are_unique_and_numbered(rows: list[dict[str, str]]) -> None:
    ids = [r["id"] for r in rows]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"t\d{4}", i) for i in ids)


def test_every_code_is_a_leaf_of_the_demo_policy_and_every_leaf_is_covered(
    rows: list[dict[str, str]], leaf_codes: set[str]
) -> None:
    assert len(leaf_codes) == 26
    assert {r["code"] for r in rows if r["code"]} <= leaf_codes
    whole = Counter(r["code"] for r in rows)
    test = Counter(r["code"] for r in rows if r["split"] == "test")
    for code in leaf_codes:
        assert whole[code] >= MIN_PER_LEAF, code
        assert test[code] >= MIN_PER_LEAF_TEST, code


def test_flags_are_zero_or_one_and_unclear_rows_are_a_minority(rows: list[dict[str, str]]) -> None:
    assert all(r["clear"] in ("0", "1") and r["danger"] in ("0", "1") for r in rows)
    labelled = [r for r in rows if r["code"]]
    unclear = sum(r["clear"] == "0" for r in labelled) / len(labelled)
    assert 0.08 <= unclear <= 0.16


def test_meaningless_rows_have_no_code_and_are_neither_clear_nor_dangerous(rows: list[dict[str, str]]) -> None:
    meaningless = [r for r in rows if not r["code"]]
    assert len(meaningless) >= 20
    assert all(r["clear"] == "0" and r["danger"] == "0" for r in meaningless)


def test_danger_rows_and_negated_near_misses(rows: list[dict[str, str]]) -> None:
    danger = [r for r in rows if r["danger"] == "1"]
    near_misses = [r for r in rows if r["danger"] == "0" and DANGER_LOOKING.search(r["text"])]
    assert len(danger) >= 30
    assert len(near_misses) >= 15
    assert len({r["code"] for r in danger}) >= 8  # spread across leaves, not only gas and subsidence
    assert len({r["code"] for r in near_misses}) >= 8


def test_text_lengths_and_no_latin_letters(rows: list[dict[str, str]]) -> None:
    for row in rows:
        if row["code"]:
            assert 8 <= len(row["text"]) <= 120, row["id"]
        assert not re.search("[A-Za-z]", row["text"]), row["id"]
    lengths = [len(r["text"]) for r in rows if r["code"]]
    assert max(lengths) >= 90  # some long operator summaries, not only one-liners


def test_split_follows_the_documented_rule_and_is_balanced_per_leaf(rows: list[dict[str, str]]) -> None:
    assert {r["id"]: r["split"] for r in rows} == splits(rows)
    per_leaf: dict[str, Counter[str]] = {}
    for row in rows:
        per_leaf.setdefault(row["code"], Counter())[row["split"]] += 1
    for code, parts in per_leaf.items():
        assert abs(parts["dev"] - parts["test"]) <= 1, code


def test_hotline_category_is_mostly_not_our_own_name(rows: list[dict[str, str]], leaf_codes: set[str]) -> None:
    generic = {"", "其他", "综合", "市容环境", "城市管理"}
    labelled = [r for r in rows if r["code"]]
    share = sum(r["hotline_category"] in generic for r in labelled) / len(labelled)
    assert 0.3 <= share <= 0.55
    assert not {r["hotline_category"] for r in labelled} & leaf_codes  # never our codes


def test_the_generator_finds_no_problem(rows: list[dict[str, str]]) -> None:
    assert problems(rows) == []
