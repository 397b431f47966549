"""Shape checks for tests/fixtures/tickets_heldout.csv, the held-out hotline ticket set.

The set is only worth something while it stays independent of everything the classifier was built or
tuned on (see tests/fixtures/tickets_heldout.md), so besides the shape this test checks that no held-out
text is a near copy (rapidfuzz ratio >= 90) of a text in the earlier labelled set or the training data.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path
from typing import Any

from rapidfuzz import fuzz, process

from hub.data import DEMO_POLICY_FILE

ROOT = Path(__file__).resolve().parents[2]
HELDOUT = ROOT / "tests" / "fixtures" / "tickets_heldout.csv"
EARLIER_SET = ROOT / "tests" / "fixtures" / "tickets_labelled.csv"
# The training data that existed when the set was written (later files hold this set itself: it was used up).
TRAINING_FILES = [ROOT / "hub" / "data" / "intake_training.csv", ROOT / "hub" / "data" / "intake_training_extra.csv"]
COLUMNS = ["id", "text", "hotline_category", "code", "clear", "danger"]
GENERIC = {"", "其他", "综合", "市容环境", "城市管理"}
NEAR_COPY = 90.0


def _rows() -> list[dict[str, str]]:
    with HELDOUT.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _leaf_codes() -> set[str]:
    """Codes of the leaves (nodes without children) of the demo policy's category tree."""
    tree = json.loads(Path(DEMO_POLICY_FILE).read_text(encoding="utf-8"))["matrix"]["categories"]
    leaves: set[str] = set()

    def walk(nodes: list[dict[str, Any]]) -> None:
        for node in nodes:
            children = node.get("children") or []
            if children:
                walk(children)
            else:
                leaves.add(str(node["code"]))

    walk(tree)
    return leaves


def _texts(path: Path) -> list[str]:
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        assert reader.fieldnames is not None and "text" in reader.fieldnames, path
        return [row["text"] for row in reader]


def test_columns_and_ids() -> None:
    with HELDOUT.open(encoding="utf-8", newline="") as fh:
        header = next(csv.reader(fh))
    assert header == COLUMNS
    rows = _rows()
    assert len(rows) >= 330
    assert [r["id"] for r in rows] == [f"h{i:04d}" for i in range(1, len(rows) + 1)]
    for r in rows:
        assert r["clear"] in {"0", "1"} and r["danger"] in {"0", "1"}, r["id"]


def test_every_leaf_covered_and_codes_exist() -> None:
    leaves = _leaf_codes()
    assert len(leaves) == 26
    rows = _rows()
    counts = Counter(r["code"] for r in rows if r["code"])
    assert set(counts) <= leaves, set(counts) - leaves
    assert {code: n for code, n in counts.items() if n < 10} == {}
    assert leaves <= set(counts)


def test_meaningless_and_ambiguous_rows() -> None:
    rows = _rows()
    meaningless = [r for r in rows if not r["code"]]
    assert len(meaningless) >= 15
    assert all(r["clear"] == "0" and r["danger"] == "0" for r in meaningless)
    assert sum(1 for r in rows if r["code"] and r["clear"] == "0") >= 25


def test_lengths_danger_and_duplicates() -> None:
    rows = _rows()
    for r in rows:
        # The meaningless rows are what callers really say ("喂喂", "。。。"), so only they may be short.
        low = 1 if not r["code"] else 8
        assert low <= len(r["text"]) <= 120, (r["id"], len(r["text"]))
        assert r["text"] == r["text"].strip() and "\n" not in r["text"], r["id"]
        assert not any("a" <= ch.lower() <= "z" for ch in r["text"]), r["id"]
    assert sum(1 for r in rows if r["danger"] == "1") >= 30
    duplicates = [t for t, n in Counter(r["text"] for r in rows).items() if n > 1]
    assert duplicates == []


def test_hotline_category_mix() -> None:
    """Roughly half generic categories, as the platform sends them; never all of one kind."""
    coded = [r for r in _rows() if r["code"]]
    generic = sum(1 for r in coded if r["hotline_category"] in GENERIC) / len(coded)
    assert 0.35 <= generic <= 0.60


def test_no_near_copy_of_earlier_or_training_texts() -> None:
    others: list[str] = []
    for path in [EARLIER_SET, *TRAINING_FILES]:
        others.extend(_texts(path))
    assert others
    # Ids only: the point of the set is that its author never sees the other texts.
    flagged = []
    for r in _rows():
        match = process.extractOne(r["text"], others, scorer=fuzz.ratio, score_cutoff=NEAR_COPY)
        if match is not None:
            flagged.append(r["id"])
    assert flagged == []
