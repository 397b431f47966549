"""Near-duplicate guard for the blind ticket sets after the first held-out one (issue 16).

A blind set is only an honest measurement if its texts were not copied from the texts the classifier was
tuned or measured on before it, so each text is compared in code (never by eye) against the earlier sets
and the training data; failures report ids only, so the author can rewrite a row without seeing the text it
matched. Each set is compared with everything that existed when it was written, earlier blind sets included.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from rapidfuzz import fuzz, process

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
DATA = ROOT / "hub" / "data"
EARLIER = [
    FIXTURES / "tickets_heldout.csv",
    FIXTURES / "tickets_labelled.csv",
    DATA / "intake_training.csv",
    DATA / "intake_training_extra.csv",
]
# In writing order: each blind set is also compared with the blind sets before it, and with the training files
# added before it (the fourth round's hold the used-up sets themselves, so the earlier sets predate them).
BLIND_SETS = ["tickets_blind2.csv", "tickets_blind3.csv", "tickets_blind4.csv", "tickets_blind5.csv",
              "tickets_blind6.csv", "tickets_blind7.csv",
              "tickets_blind8.csv", "tickets_blind9.csv", "tickets_blind10.csv",
              "tickets_blind11.csv", "tickets_blind12.csv"]
TRAINING_ADDED_BEFORE = {"tickets_blind4.csv": [DATA / "intake_training_voices.csv",
                                                DATA / "intake_training_retired.csv"],
                         "tickets_blind5.csv": [DATA / "intake_training_voices.csv",
                                                DATA / "intake_training_retired.csv"],
                         "tickets_blind6.csv": [DATA / "intake_training_voices.csv",
                                                DATA / "intake_training_retired.csv"],
                         "tickets_blind7.csv": [DATA / "intake_training_voices.csv",
                                                DATA / "intake_training_retired.csv"],
                         "tickets_blind8.csv": [DATA / "intake_training_voices.csv",
                                                DATA / "intake_training_retired.csv"],
                         "tickets_blind9.csv": [DATA / "intake_training_voices.csv",
                                                DATA / "intake_training_retired.csv"],
                         "tickets_blind10.csv": [DATA / "intake_training_voices.csv",
                                                 DATA / "intake_training_retired.csv"],
                         "tickets_blind11.csv": [DATA / "intake_training_voices.csv",
                                                 DATA / "intake_training_retired.csv"],
                         "tickets_blind12.csv": [DATA / "intake_training_voices.csv",
                                                 DATA / "intake_training_retired.csv"]}


def _texts(path: Path) -> list[tuple[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return [(row.get("id", ""), row["text"]) for row in csv.DictReader(fh)]


@pytest.mark.parametrize("name", BLIND_SETS)
def test_blind_set_texts_are_not_near_duplicates_of_what_came_before(name: str) -> None:
    before = [*EARLIER, *(FIXTURES / earlier for earlier in BLIND_SETS[:BLIND_SETS.index(name)]),
              *TRAINING_ADDED_BEFORE.get(name, [])]
    own = set(_texts(FIXTURES / name))
    # A used-up set's own rows, copied into the training data after it was measured, are not earlier texts.
    earlier = [text for path in before for row in _texts(path) if row not in own for text in (row[1],)]
    flagged = [
        row_id
        for row_id, text in sorted(own)
        if process.extractOne(text, earlier, scorer=fuzz.ratio, score_cutoff=90) is not None
    ]
    assert not flagged, f"near-duplicates of earlier texts: {flagged}"
