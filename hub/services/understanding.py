"""The understanding step's model, trained when the hub starts from the labelled texts it ships.

`hub/data/intake_training.csv` is the development part of the labelled set (tests/fixtures/
tickets_labelled.csv, split == "dev"; how it was made: README, "Intake understanding");
`hub/data/intake_training_extra.csv` holds texts written for training only, without seeing the test part (how:
hub/data/intake_training_extra.md). The test part is never trained on. Training takes about a second; it runs
in a thread while the gazetteer loads, once per process and training files (a test process builds many hubs).
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
EXTRA_TRAINING_FILE: Final = TRAINING_FILE.with_name("intake_training_extra.csv")
TRAINING_FILES: Final = (TRAINING_FILE, EXTRA_TRAINING_FILE)


def build_understander(policy: Policy, training_files: tuple[Path, ...] = TRAINING_FILES) -> Understander | None:
    """The policy's understander (None without a matrix: nothing to recognise), with the model when there are
    labelled texts for at least two of the matrix's leaves."""
    if policy.matrix is None:
        return None
    # Cached by the policy's content (a frozen model; a test process builds many hubs with a few policies).
    key = (policy.matrix.model_dump_json(), policy.intake.model_dump_json(), training_files)
    if key not in _BUILT:
        _BUILT[key] = _understander(policy.matrix, policy.intake, training_files)
    return _BUILT[key]


_BUILT: dict[tuple[str, str, tuple[Path, ...]], Understander] = {}


def read_training(files: tuple[Path, ...] = TRAINING_FILES) -> list[dict[str, str]]:
    """The labelled training rows (id, text, code) of the files that exist, in order."""
    rows: list[dict[str, str]] = []
    for path in files:
        if path.is_file():
            with path.open(encoding="utf-8", newline="") as f:
                rows += csv.DictReader(f)
    return rows


def _understander(matrix: Matrix, intake: IntakePolicy, training_files: tuple[Path, ...]) -> Understander:
    """Trained on the texts labelled with one of the matrix's leaves (rows for other categories are left out)."""
    found = read_training(training_files)
    if not found:
        log.warning("no intake training texts: categories are read from keywords only",
                    extra={"training_files": [str(p) for p in training_files]})
        return Understander(matrix, intake)
    leaves = {path[-1].code for path in matrix.leaves()}
    rows = [(row["text"], row["code"]) for row in found if row.get("code") in leaves]
    if len({code for _, code in rows}) < 2:
        return Understander(matrix, intake)
    return trained(matrix, intake, [text for text, _ in rows], [code for _, code in rows])
