"""Issue 16's measure, on the test part of the labelled set (never trained or tuned on): a regression in the
rules, the keywords or the model fails here. The figures are in README, "Intake understanding"."""

from __future__ import annotations

import csv

from hub.services.understanding import TRAINING_FILE
from tools.demo_matrix import demo_policy
from tools.eval_intake import LABELLED, evaluate, read_rows, understander_for


def test_the_hub_trains_on_exactly_the_development_part() -> None:
    with TRAINING_FILE.open(encoding="utf-8", newline="") as f:
        shipped = [(r["id"], r["text"], r["code"]) for r in csv.DictReader(f)]
    assert shipped == [(r["id"], r["text"], r["code"]) for r in read_rows(LABELLED) if r["split"] == "dev"]


def test_the_test_part_is_understood_within_the_targets() -> None:
    rows = read_rows(LABELLED)
    understander = understander_for(demo_policy(), [r for r in rows if r["split"] == "dev"])
    figures = evaluate(understander, [r for r in rows if r["split"] == "test"], repeat=1)
    assert figures.rows >= 250 and figures.clear_rows >= 200
    assert figures.wrong_rate <= 0.01, figures.lines()  # the target: at most 1 % dispatched under a wrong category
    # The target is 95 %; measured 91.6 % (README). This floor catches a regression meanwhile.
    assert figures.top1_clear >= 0.90, figures.lines()
    assert figures.top3_clear >= 0.94, figures.lines()
