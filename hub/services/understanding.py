"""The understanding step's model, trained when the hub starts from the labelled texts it ships.

`hub/data/intake_training.csv` is the development part of the labelled set (tests/fixtures/
tickets_labelled.csv, split == "dev"; how it was made: README, "Intake understanding"). The test part is never
trained on. Training takes a fraction of a second; it runs in a thread while the gazetteer loads, once per
process and training file (a test process builds many hubs).
"""

from __future__ import annotations

import csv
import logging
from pathlib import Path
from typing import Final

from dispatch.matrix import Matrix
from dispatch.policy import Policy
from dispatch.understanding import IntakePolicy, Understander, trained

log = logging.getLogger(__name__)

TRAINING_FILE: Final = Path(__file__).resolve().parent.parent / "data" / "intake_training.csv"


def build_understander(policy: Policy, training_file: Path | None = TRAINING_FILE) -> Understander | None:
    """The policy's understander (None without a matrix: nothing to recognise), with the model when there are
    labelled texts for at least two of the matrix's leaves."""
    if policy.matrix is None:
        return None
    # Cached by the policy's content (a frozen model; a test process builds many hubs with a few policies).
    key = (policy.matrix.model_dump_json(), policy.intake.model_dump_json(), training_file)
    if key not in _BUILT:
        _BUILT[key] = _understander(policy.matrix, policy.intake, training_file)
    return _BUILT[key]


_BUILT: dict[tuple[str, str, Path | None], Understander] = {}


def _understander(matrix: Matrix, intake: IntakePolicy, training_file: Path | None) -> Understander:
    """Trained on the texts labelled with one of the matrix's leaves (rows for other categories are left out)."""
    if training_file is None or not training_file.is_file():
        log.warning("no intake training texts: categories are read from keywords only",
                    extra={"training_file": str(training_file)})
        return Understander(matrix, intake)
    leaves = {path[-1].code for path in matrix.leaves()}
    with training_file.open(encoding="utf-8", newline="") as f:
        rows = [(row["text"], row["code"]) for row in csv.DictReader(f) if row.get("code") in leaves]
    if len({code for _, code in rows}) < 2:
        return Understander(matrix, intake)
    return trained(matrix, intake, [text for text, _ in rows], [code for _, code in rows])
