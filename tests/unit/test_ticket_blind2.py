"""Near-duplicate guard for the blind2 ticket set (issue 16).

The blind set is only an honest measurement if its texts were not copied from the texts the
classifier was tuned or measured on, so each text is compared in code (never by eye) against the
earlier sets and the training data; failures report ids only, so the author can rewrite a row
without seeing the text it matched.
"""

from __future__ import annotations

import csv
from pathlib import Path

from rapidfuzz import fuzz, process

ROOT = Path(__file__).resolve().parents[2]
BLIND = ROOT / "tests" / "fixtures" / "tickets_blind2.csv"
EARLIER = [
    ROOT / "tests" / "fixtures" / "tickets_heldout.csv",
    ROOT / "tests" / "fixtures" / "tickets_labelled.csv",
    *sorted((ROOT / "hub" / "data").glob("intake_training*.csv")),
]


def _texts(path: Path) -> list[tuple[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return [(row.get("id", ""), row["text"]) for row in csv.DictReader(fh)]


def test_blind2_texts_are_not_near_duplicates() -> None:
    earlier = [text for path in EARLIER if path.exists() for _, text in _texts(path)]
    flagged = [
        row_id
        for row_id, text in _texts(BLIND)
        if process.extractOne(text, earlier, scorer=fuzz.ratio, score_cutoff=90) is not None
    ]
    assert not flagged, f"near-duplicates of earlier texts: {flagged}"
