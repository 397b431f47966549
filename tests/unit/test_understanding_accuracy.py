"""Issue 16's measure on the labelled set: the development part by cross-validation, the old test part, which
is a validation set now (its figures were read while the rules were tuned, so it is burned as a test), and every
training writer read by a model that never saw that writer (leave one writer out; the held-out set and blind sets
2 and 3 are training data since the fourth round). A regression in the rules, the keywords or the model fails
here; the figures are in README, "Intake understanding". Also: what the hub trains on, that the texts written for
training do not copy the validation part, and that `eval-intake --file` measures a file without a split column
whole."""

from __future__ import annotations

import argparse
import csv
from collections import Counter
from pathlib import Path

import pytest
from rapidfuzz import fuzz, process

from dispatch.understanding import Understander
from dispatch.understanding.model import TextModel
from dispatch.understanding.text import folded
from hub.services.understanding import (
    EXTRA_TRAINING_FILE,
    RELABELS_FILE,
    RETIRED_TRAINING_FILE,
    TRAINING_FILE,
    TRAINING_FILES,
    VOICES_TRAINING_FILE,
    WRITTEN_TRAINING_FILES,
    read_relabels,
    read_training,
    relabelled,
)
from tests.fixtures.make_ticket_set import leaves
from tools.cli import thresholds_list
from tools.demo_matrix import demo_policy
from tools.eval_intake import (
    LABELLED,
    cross_validated,
    evaluate,
    leave_one_writer_out,
    main,
    read_rows,
    training_rows,
    understander_for,
    writer_groups,
)

NEAR_DUPLICATE = 90  # rapidfuzz ratio from which an extra training text counts as a copy of a test text


def test_the_hub_trains_on_the_development_part_and_the_written_texts() -> None:
    with TRAINING_FILE.open(encoding="utf-8", newline="") as f:
        shipped = [(r["id"], r["text"], r["code"]) for r in csv.DictReader(f)]
    labelled = read_rows(LABELLED)
    assert shipped == [(r["id"], r["text"], r["code"]) for r in labelled if r["split"] == "dev"]
    hub = [(r["id"], r["text"], r["code"]) for r in read_training(TRAINING_FILES)]
    assert hub == [(r["id"], r["text"], r["code"]) for r in training_rows(labelled)]
    assert len(hub) == len(shipped) + len(read_training(WRITTEN_TRAINING_FILES))
    assert {VOICES_TRAINING_FILE, RETIRED_TRAINING_FILE} <= set(TRAINING_FILES)


def test_the_fourth_round_texts_are_labelled_by_writer_and_copy_no_validation_text() -> None:
    voices = read_training((VOICES_TRAINING_FILE,))
    codes = leaves()
    assert len(voices) == 4 * 10 * len(codes)
    assert Counter(r["group"] for r in voices) == Counter({g: 260 for g in {r["group"] for r in voices}})
    assert all(r["code"] in codes and r["clear"] in {"0", "1"} and r["danger"] in {"0", "1"} for r in voices)
    every = read_training(TRAINING_FILES)
    assert len({r["id"] for r in every}) == len(every)
    test_texts = [r["text"] for r in read_rows(LABELLED) if r["split"] == "test"]
    near = [r["id"] for r in voices
            if process.extractOne(r["text"], test_texts, scorer=fuzz.ratio, score_cutoff=NEAR_DUPLICATE)]
    assert near == [], f"voice texts near a validation text: {near}"


def test_the_retired_training_file_is_the_used_up_sets_coded_rows_unchanged() -> None:
    retired = [(r["id"], r["text"], r["code"], r["clear"], r["danger"])
               for r in read_training((RETIRED_TRAINING_FILE,), relabel=False)]
    used_up = [(r["id"], r["text"], r["code"], r["clear"], r["danger"])
               for name in ("tickets_heldout.csv", "tickets_blind2.csv", "tickets_blind3.csv", "tickets_blind4.csv",
                            "tickets_blind5.csv", "tickets_blind6.csv", "tickets_blind7.csv", "tickets_blind8.csv",
                            "tickets_blind9.csv", "tickets_blind10.csv", "tickets_blind11.csv")
               for r in read_rows(LABELLED.with_name(name)) if r["code"]]
    assert retired == used_up


def test_the_audits_relabels_name_rows_as_written_and_the_hub_trains_on_the_new_codes() -> None:
    relabels = read_relabels()
    assert len(relabels) >= 20
    with RELABELS_FILE.open(encoding="utf-8", newline="") as f:
        changes = list(csv.DictReader(f))
    codes = leaves()
    for change in changes:  # each names a row of its file that carries the code it changes, and a leaf
        written = {r["id"]: r for r in read_training((TRAINING_FILE.with_name(change["file"]),), relabel=False)}
        assert written[change["id"]]["code"] == change["old_code"] != change["new_code"], change
        assert change["new_code"] in codes and change["reason"], change
    trained_on = {r["id"]: r["code"] for r in read_training(TRAINING_FILES)}
    assert all(trained_on[row_id] == new for row_id, (_, new) in relabels.items())
    # The labelled set's development part is the shipped training file: relabelled alike where the hub trains.
    labelled_dev = {r["id"]: r["code"] for r in training_rows(read_rows(LABELLED))}
    assert all(labelled_dev[row_id] == new for row_id, (_, new) in relabels.items() if row_id in labelled_dev)


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
    """The understander the hub builds (trained on the development part and the written texts)."""
    return understander_for(demo_policy(), training_rows(read_rows(LABELLED)))


def test_the_validation_part_is_understood_within_the_targets(hub_understander: Understander) -> None:
    rows = read_rows(LABELLED)
    figures = evaluate(hub_understander, [r for r in rows if r["split"] == "test"], repeat=1)
    assert figures.rows >= 250 and figures.clear_rows >= 200
    # The targets: ≥ 95 % top-1 on clear texts, ≤ 1 % dispatched under a wrong category. Measured on
    # 2026-12-06 after the seventh round, threshold 0.90 (README): top-1 96.4 % on clear texts, no wrong
    # dispatch, 27.4 % triage (23.6 % at 0.85; 22.3 % before the fifth round: a path, a named field, a doubting
    # caller now yield to a dispatcher). The model is trained with a fixed seed, so the figures repeat.
    assert figures.wrong_rate <= WRONG_CEILING, figures.lines()
    assert figures.wrong_rate_clear <= WRONG_CLEAR_CEILING, figures.lines()
    assert figures.top1_clear >= TOP1_CLEAR_FLOOR, figures.lines()
    assert figures.top3_clear >= TOP3_CLEAR_FLOOR, figures.lines()
    assert figures.triage_rate <= TRIAGE_CEILING, figures.lines()


def test_the_development_part_is_understood_within_the_targets_by_cross_validation() -> None:
    rows = read_rows(LABELLED)
    figures = cross_validated(demo_policy(), relabelled([r for r in rows if r["split"] == "dev"]),
                              read_training(WRITTEN_TRAINING_FILES))
    # Measured on 2026-12-06 after the seventh round at threshold 0.90: 98.1 % top-1 and 99.3 % top-3 on clear
    # texts, 27.4 % triage (24.2 % at 0.85), two wrong dispatches (0.6 %; after the fifth round 100 % top-3,
    # 23.2 %, one). The fourth round's 100 % /
    # 21.9 % / none were judged by the writers' labels; the audit's (RELABELS_FILE) moved heaps left for days to
    # 积存垃圾渣土, which the model finds harder.
    assert figures.wrong_rate <= WRONG_CEILING, figures.lines()
    assert figures.top1_clear >= 0.97, figures.lines()
    assert figures.top3_clear >= 0.99, figures.lines()
    assert figures.triage_rate <= 0.28, figures.lines()


def test_writers_the_model_never_saw_are_read_as_measured() -> None:
    """Each writer's training texts read by a model trained on all the others, at the policy's threshold: the
    fourth round's measure (the held-out set that guarded the third round is training data now)."""
    groups, always = writer_groups(read_rows(LABELLED))
    policy = demo_policy()
    assert len(groups) >= 8
    [found] = leave_one_writer_out(policy, groups, always, [policy.intake.threshold])
    # Measured on 2026-12-06 after the seventh round (eleven groups: blind sets 4–6 are training data now, judged
    # by the audit's labels), threshold 0.90: clear top-1 95.1 %, top-3 97.3 %, 1.0 % wrong (1.3 % at 0.85),
    # 35.8 % triage (31.6 % at 0.85); danger words precision 82.5 %, recall 79.5 %. With blind sets 7 and 8 in
    # (thirteen groups, 3,626 texts; their writers' triage rates are 39 % and 46 %): 94.7 %, 97.3 %, 1.0 %,
    # 36.0 % triage; danger words precision 82.7 %, recall 78.9 %. The eighth round's danger families (people hurt
    # or stuck now, bottled gas, lifts and cars with people in them, trees on cars, roofs and wires, signs swinging
    # over people, Cantonese), retractions (修过了, 没闻到, 原来是, 表扬) and exceptions, written from these groups'
    # misses (so measured in-sample): precision 95.6 %, recall 95.6 %; the rest unchanged. With blind set 9 in
    # (fourteen groups, 3,877 texts; its writers, never seen by those rules: clear top-1 89.8 %, triage 42.3 %):
    # 94.5 %, 97.0 %, 1.1 % wrong (0.8 % of clear texts), 35.5 % triage; danger precision 94.5 %, recall 95.4 %.
    # The ninth round's danger words (an ambulance called, not passing; retractions: 没烧起来, 都平安 …), written
    # from blind set 9's misses: precision 96.0 %, recall 95.4 %. The ninth round's two decision fixes (a model
    # reading with no words of its own keeps its confidence against another leaf's words; a loosely read field
    # takes its place among the content's readings by confidence) and a denied field never dispatched: clear
    # top-1 96.8 %, top-3 99.2 %, the same 42 wrong dispatches (1.1 %), triage 33.9 %. With blind set 10 in
    # (fifteen groups, 4,137 texts): 96.8 %, 99.3 %, 46 wrong (1.1 %), triage 34.2 %; danger 95.1 % / 95.1 %. The
    # tenth round (还有, 另外, 同时, 以及, 而且 join a rival as 也 does; blind set 10's danger words, in-sample):
    # 45 wrong (1.09 %), triage 34.2 %, danger precision 96.3 %, recall 95.8 %. With blind set 11 in (sixteen
    # groups, 4,397 texts): 97.0 %, 53 wrong (1.21 %), triage 33.7 %; the eleventh round (an added problem goes on
    # after its clause and is a rival whatever its keywords; a question, suggestion or thanks is rivalled only by
    # another of them; its danger words): top-1 97.1 %, top-3 99.4 %, 50 wrong (1.14 %), triage 32.0 %, danger
    # precision 96.4 %, recall 95.8 %.
    assert found.pooled.wrong_rate <= 0.0115, found.pooled.lines()
    assert found.pooled.top1_clear >= 0.97, found.pooled.lines()
    assert found.pooled.top3_clear >= 0.99, found.pooled.lines()
    assert found.pooled.triage_rate <= 0.325, found.pooled.lines()
    assert found.pooled.danger_recall >= 0.955 and found.pooled.danger_precision >= 0.96, found.pooled.lines()


def test_by_writer_thresholds_are_read_or_refused_by_value() -> None:
    assert thresholds_list("0.8,0.85,0.9") == [0.8, 0.85, 0.9]
    for bad in ("0.8,high", "0", "1.5", ""):
        with pytest.raises(argparse.ArgumentTypeError, match="threshold|numbers"):
            thresholds_list(bad)


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
TRIAGE_CEILING = 0.28
WRONG_CEILING = 0.01  # the target
WRONG_CLEAR_CEILING = 0.005


def test_the_models_direct_scoring_is_scikit_learns_on_every_training_text(hub_understander: Understander) -> None:
    """`TextModel` scores with scikit-learn's fitted parts directly (its transform and predict_proba cost ~0.9 ms
    a call in checks): the probabilities and the evidence must be scikit-learn's own, text by text."""
    from dispatch.understanding.model import CharWbGrams, _features

    model = hub_understander.model
    assert model is not None and model._direct  # the hub's model takes the direct path
    texts = [r["text"] for r in read_training(TRAINING_FILES)]
    keywords = [hub_understander.keyword_weights(t) for t in texts]
    grams = model._vectorizer.transform([folded(t) for t in texts])
    expected = model._classifier.predict_proba(_features(grams, keywords, model._leaves))
    direct = model.guess_many(texts, keywords)
    library = TextModel(model._vectorizer, model._classifier, model._leaves)
    library._direct = False
    through_library = library.guess_many(texts, keywords)
    analyzer = model._vectorizer.build_analyzer()  # the n-grams of our analyzer (model.CharWbGrams) are its own
    assert isinstance(model._analyze, CharWbGrams)
    assert all(model._analyze(folded(t)) == analyzer(folded(t)) for t in texts)
    for i, (guess, other) in enumerate(zip(direct, through_library, strict=True)):
        assert [guess.scores[c] for c in model.classes] == pytest.approx(list(expected[i]), abs=1e-12), texts[i]
        assert guess.evidence == other.evidence, texts[i]


def test_a_text_scores_the_same_whatever_batch_it_is_read_in(hub_understander: Understander) -> None:
    """The model reads a batch's n-grams all at once (`_GramKeys`): no n-gram may span two words or two texts,
    and a text with no known n-gram — empty, blank, or words the training never saw — must neither shift its
    neighbours' values nor take theirs. Each text of a mixed batch scores as it does alone and as scikit-learn's
    own transform and predict_proba score it."""
    model = hub_understander.model
    assert model is not None and model._direct
    texts = ["路灯不亮了", "", "   ", "ⅫⅫⅫ ℵℵ", "井盖 丢了 ", "小区门口占道经营，很吵", "  路灯", "灯 路", "\ud800井盖",
             "😀😀 路灯", "İİ 井盖"]  # beyond U+FFFF; a letter whose lower case is two characters
    keywords = [hub_understander.keyword_weights(t) for t in texts]
    together = model.guess_many(texts, keywords)
    library = TextModel(model._vectorizer, model._classifier, model._leaves)
    library._direct = False
    for i, text in enumerate(texts):
        [alone] = model.guess_many([text], [keywords[i]])
        [expected] = library.guess_many([text], [keywords[i]])
        for guess in (together[i], alone):
            assert [guess.scores[c] for c in model.classes] == pytest.approx(
                [expected.scores[c] for c in model.classes], abs=1e-12), text
            assert guess.evidence == expected.evidence, text
