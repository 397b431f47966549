"""The understanding step's model, trained when the hub starts from the labelled texts it ships.

`hub/data/intake_training.csv` is the development part of the labelled set (tests/fixtures/
tickets_labelled.csv, split == "dev"; how it was made: README, "Intake understanding"). The test part is never
trained on. Training takes a fraction of a second; it runs in a thread while the gazetteer loads, once per
process and training file (a test process builds many hubs).
"""

from __future__ import annotations

import csv
import functools
import logging
from pathlib import Path
from typing import Final

from dispatch.policy import Policy
from dispatch.understanding import TextModel, Understander, train

log = logging.getLogger(__name__)

TRAINING_FILE: Final = Path(__file__).resolve().parent.parent / "data" / "intake_training.csv"


def build_understander(policy: Policy, training_file: Path | None = TRAINING_FILE) -> Understander | None:
    """The policy's understander (None without a matrix: nothing to recognise), with the model when there are
    labelled texts for at least two of the matrix's leaves."""
    if policy.matrix is None:
        return None
    leaves = frozenset(path[-1].code for path in policy.matrix.leaves())
    model = trained_model(training_file, leaves) if training_file is not None else None
    return Understander(policy.matrix, policy.intake, model)


@functools.lru_cache(maxsize=4)
def trained_model(training_file: Path, leaves: frozenset[str]) -> TextModel | None:
    """A model of the texts labelled with one of `leaves` (rows for other categories are left out)."""
    if not training_file.is_file():
        log.warning("no intake training texts: categories are read from keywords only",
                    extra={"training_file": str(training_file)})
        return None
    with training_file.open(encoding="utf-8", newline="") as f:
        rows = [(row["text"], row["code"]) for row in csv.DictReader(f) if row.get("code") in leaves]
    if len({code for _, code in rows}) < 2:
        return None
    return train([text for text, _ in rows], [code for _, code in rows])
