"""Issue 16's measure on the labelled set: the development part by cross-validation and the old test part, which
is a validation set now (its figures were read while the rules were tuned, so it is burned as a test; the
held-out set, tests/fixtures/tickets_heldout.csv, was used up by issue 16's third round and is development data
now: measured here as a regression guard, never trained on). A regression in the
rules, the keywords or the model fails here; the figures are in README, "Intake understanding". Also: what the
hub trains on, that the extra training texts (hub/data/intake_training_extra.csv, written for training) do not
copy the validation part, and that `eval-intake --file` measures a file without a split column whole."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pytest
from rapidfuzz import fuzz, process

from dispatch.understanding import Understander
from hub.services.understanding import EXTRA_TRAINING_FILE, TRAINING_FILE, TRAINING_FILES, read_training
from tests.fixtures.make_ticket_set import leaves
from tools.demo_matrix import demo_policy
from tools.eval_intake import LABELLED, cross_validated, evaluate, main, read_rows, training_rows, understander_for

HELDOUT = LABELLED.with_name("tickets_heldout.csv")
NEAR_DUPLICATE = 90  # rapidfuzz ratio from which an extra training text counts as a copy of a test text


def test_the_hub_trains_on_the_development_part_and_the_extra_texts() -> None:
    with TRAINING_FILE.open(encoding="utf-8", newline="") as f:
        shipped = [(r["id"], r["text"], r["code"]) for r in csv.DictReader(f)]
    labelled = read_rows(LABELLED)
    assert shipped == [(r["id"], r["text"], r["code"]) for r in labelled if r["split"] == "dev"]
    hub = [(r["id"], r["text"], r["code"]) for r in read_training(TRAINING_FILES)]
    assert hub == [(r["id"], r["text"], r["code"]) for r in training_rows(labelled)]
    assert len(hub) == len(shipped) + len(read_training((EXTRA_TRAINING_FILE,)))


def test_the_extra_training_texts_are_labelled_with_leaves_and_copy_no_test_text() -> None:
    extra = read_training((EXTRA_TRAINING_FILE,))
    codes = leaves()
    assert len(extra) >= 600
    assert all(r["code"] in codes for r in extra)
    per_leaf = Counter(r["code"] for r in extra)
    assert min(per_leaf[c] for c in codes) >= 20, per_leaf
    assert len({r["id"] for r in extra}) == len(extra)
    texts = [r["text"] for r in extra]
    assert len(set(texts)) == len(texts)
    labelled = read_rows(LABELLED)
    assert not set(texts) & {r["text"] for r in labelled if r["split"] == "dev"}
    # Read programmatically only: the test texts are never printed (an assertion names the extra row's id).
    test_texts = [r["text"] for r in labelled if r["split"] == "test"]
    near = [r["id"] for r in extra
            if process.extractOne(r["text"], test_texts, scorer=fuzz.ratio, score_cutoff=NEAR_DUPLICATE)]
    assert near == [], f"extra training texts near a test text: {near}"


@pytest.fixture(scope="module")
def hub_understander() -> Understander:
    """The understander the hub builds (trained on the development part and the extra texts)."""
    return understander_for(demo_policy(), training_rows(read_rows(LABELLED)))


def test_the_validation_part_is_understood_within_the_targets(hub_understander: Understander) -> None:
    rows = read_rows(LABELLED)
    figures = evaluate(hub_understander, [r for r in rows if r["split"] == "test"], repeat=1)
    assert figures.rows >= 250 and figures.clear_rows >= 200
    # The targets: ≥ 95 % top-1 on clear texts, ≤ 1 % dispatched under a wrong category. Measured on
    # 2026-12-06 after the third round (README): top-1 95.6 % on clear texts, 0.6 % wrong (2 of 318), 25.2 %
    # triage. The model is trained with a fixed seed, so the figures repeat.
    assert figures.wrong_rate <= WRONG_CEILING, figures.lines()
    assert figures.wrong_rate_clear <= WRONG_CLEAR_CEILING, figures.lines()
    assert figures.top1_clear >= TOP1_CLEAR_FLOOR, figures.lines()
    assert figures.top3_clear >= TOP3_CLEAR_FLOOR, figures.lines()
    assert figures.triage_rate <= TRIAGE_CEILING, figures.lines()


def test_the_development_part_is_understood_within_the_targets_by_cross_validation() -> None:
    rows = read_rows(LABELLED)
    figures = cross_validated(demo_policy(), [r for r in rows if r["split"] == "dev"],
                              read_training((EXTRA_TRAINING_FILE,)))
    # Measured on 2026-12-06 after the third round: 98.1 % top-1 and 100 % top-3 on clear texts, 25.8 % triage,
    # no wrong dispatch.
    assert figures.wrong_rate <= WRONG_CEILING, figures.lines()
    assert figures.top1_clear >= 0.97, figures.lines()
    assert figures.top3_clear >= 0.99, figures.lines()
    assert figures.triage_rate <= 0.26, figures.lines()


def test_the_used_up_heldout_set_stays_within_the_targets(hub_understander: Understander) -> None:
    """The held-out set was read to tune issue 16's third round, so it is development data now (never trained
    on: tests/unit/test_ticket_heldout.py); this keeps what that round fixed from regressing."""
    figures = evaluate(hub_understander, read_rows(HELDOUT), repeat=1)
    # Measured on 2026-12-06 after the third round: 94.6 % top-1 on clear texts (91.1 % before), 0.6 % wrong
    # (2.8 %), 34.4 % triage (34.2 %).
    assert figures.wrong_rate <= WRONG_CEILING, figures.lines()
    assert figures.top1_clear >= 0.94, figures.lines()
    assert figures.top3_clear >= 0.985, figures.lines()
    assert figures.triage_rate <= 0.36, figures.lines()


def test_eval_intake_verbose_lists_the_kinds_of_mistake(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = tmp_path / "rows.csv"
    # Labelled 景观灯 on purpose: a plain streetlight complaint is read as 路灯, a mistake of the kind 景观灯 → 路灯.
    rows.write_text("id,text,code,clear\nh1,路灯坏了好几天了，晚上黑漆漆的,010102,1\n"
                    "h2,路灯杆上的灯一直不亮,010102,1\n", encoding="utf-8")
    assert main(path=rows, verbose=True) == 0
    assert "missed (clear texts): 景观灯 read as 路灯: 2" in capsys.readouterr().out


def test_eval_intake_measures_a_file_without_a_split_column_whole(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    held = tmp_path / "held.csv"
    held.write_text("id,text,code\nh1,路灯坏了好几天了，晚上黑漆漆的,010101\nh2,好的谢谢,\n", encoding="utf-8")
    assert main(path=held) == 0
    out = capsys.readouterr().out
    assert "all rows" in out and "rows 2 " in out


TOP1_CLEAR_FLOOR = 0.95
TOP3_CLEAR_FLOOR = 0.975
TRIAGE_CEILING = 0.27
WRONG_CEILING = 0.01  # the target
WRONG_CLEAR_CEILING = 0.005
