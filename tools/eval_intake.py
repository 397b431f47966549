"""`cityloop eval-intake`: how well intake understands tickets, measured on the labelled set.

The labelled set (tests/fixtures/tickets_labelled.csv; how it was made: README, "Intake understanding") has a
development part, which the model is trained on and the rules were tuned on, and a test part, which this
measures: top-1 and top-3 accuracy (all rows and the rows that name one problem clearly), the triage rate, the
confidently-wrong rate (dispatched under a wrong category), danger detection, and the time per ticket when a
batch is read at once (as the intake stage does). The model is trained as the hub trains it: on the development
part and the texts written for training (hub/data/intake_training_extra.csv and intake_training_voices.csv,
written without seeing the test part) and the used-up measurement sets (intake_training_retired.csv).

`--split dev` measures the development part by 5-fold cross-validation (each fifth read by a model trained on
the written training texts and the other four fifths), so that the figures tuned on are not those of texts
trained on. `--by-writer T1,T2,…` reads each writer's training texts with a model trained on all the others, at
each threshold (leave one writer out): how the hub reads a writer it has never seen.

The test part is burned: its figures were read while the rules were tuned (issue 16), so it is a validation
set now. `--file` measures another labelled file with the same columns; a file without a `split` column (the
held-out set, tests/fixtures/tickets_heldout.csv) is measured whole, by the model trained as the hub trains it.
"""

from __future__ import annotations

import csv
import hashlib
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from dispatch.policy import Policy
from dispatch.understanding import Understander, Understanding, trained
from hub.services.understanding import (
    EXTRA_TRAINING_FILE,
    RETIRED_TRAINING_FILE,
    VOICES_TRAINING_FILE,
    WRITTEN_TRAINING_FILES,
    read_training,
    relabelled,
)

LABELLED = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "tickets_labelled.csv"
FOLDS = 5

Row = dict[str, str]


@dataclass(frozen=True, slots=True)
class Figures:
    rows: int
    top1: float
    top3: float
    clear_rows: int
    top1_clear: float
    top3_clear: float
    triage_rate: float
    wrong_rate: float  # dispatched under a wrong category
    wrong_rate_clear: float
    danger_precision: float
    danger_recall: float
    us_per_ticket: float  # batched
    wrong: tuple[tuple[str, str, str | None, str], ...]  # (id, expected, dispatched under, text), for tuning
    # (expected, read as) → how many clear texts were missed that way (read as: the category dispatched under or,
    # in triage, the first suggestion): the kinds of mistake, to fix their causes rather than single texts.
    confusions: tuple[tuple[str, str | None, int], ...] = ()

    def lines(self) -> list[str]:
        pct = "{:.1%}".format
        return [
            f"rows {self.rows} (clear {self.clear_rows})",
            f"top-1 {pct(self.top1)}  top-3 {pct(self.top3)}",
            f"clear texts: top-1 {pct(self.top1_clear)}  top-3 {pct(self.top3_clear)}",
            f"triage rate {pct(self.triage_rate)}  confidently wrong {pct(self.wrong_rate)} "
            f"(clear texts {pct(self.wrong_rate_clear)})",
            f"danger words: precision {pct(self.danger_precision)}  recall {pct(self.danger_recall)}",
            f"{self.us_per_ticket:.0f} µs per ticket (batch of {self.rows}, best of the runs)",
        ]


def read_rows(path: Path = LABELLED) -> list[Row]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def understander_for(policy: Policy, training: Sequence[Row]) -> Understander:
    """The understander the hub builds, with its model trained on `training` (as the hub: `training_rows`)."""
    assert policy.matrix is not None, "the policy has no matrix: nothing to recognise"
    leaves = {path[-1].code for path in policy.matrix.leaves()}
    rows = [r for r in training if r["code"] in leaves]
    return trained(policy.matrix, policy.intake, [r["text"] for r in rows], [r["code"] for r in rows])


def training_rows(labelled: Sequence[Row]) -> list[Row]:
    """What the hub trains on: the development part of the labelled set, then the texts written for training and
    the used-up measurement sets (hub.services.understanding.WRITTEN_TRAINING_FILES)."""
    return [*relabelled([r for r in labelled if r["split"] == "dev"]), *read_training(WRITTEN_TRAINING_FILES)]


def writer_groups(labelled: Sequence[Row]) -> tuple[dict[str, list[Row]], list[Row]]:
    """The hub's training texts by who wrote them: the labelled set's development part, each voice writer, each
    used-up measurement set (the `group` column); and the rows always trained on (the extra texts, which carry no
    `clear` labels to measure with)."""
    groups: dict[str, list[Row]] = {"labelled (dev part)": relabelled([r for r in labelled if r["split"] == "dev"])}
    for row in read_training((VOICES_TRAINING_FILE, RETIRED_TRAINING_FILE)):  # the files with a `group` column
        groups.setdefault(row["group"], []).append(row)
    return groups, read_training((EXTRA_TRAINING_FILE,))


@dataclass(frozen=True, slots=True)
class WriterFigures:
    threshold: float
    pooled: Figures  # every group's rows, each read by a model that never saw its writer
    by_group: dict[str, Figures]


def leave_one_writer_out(policy: Policy, groups: dict[str, list[Row]], always: Sequence[Row],
                         thresholds: Sequence[float]) -> list[WriterFigures]:
    """Each group read by a model trained on every other group and `always`, at each threshold: how the hub
    would read a new writer's texts. Validation as a blind set measures it, but repeatable, and on ten times the
    texts, so a threshold can be chosen without spending a blind set (the model does not depend on it)."""
    assert policy.matrix is not None, "the policy has no matrix: nothing to recognise"
    models = {name: understander_for(policy, [*always, *(r for other, rows in groups.items() if other != name
                                                          for r in rows)]).model for name in groups}
    out: list[WriterFigures] = []
    for threshold in thresholds:
        intake = policy.intake.model_copy(update={"threshold": threshold})
        by_group: dict[str, Figures] = {}
        rows: list[Row] = []
        results: list[Understanding] = []
        for name, held in groups.items():
            got, us = _read(Understander(policy.matrix, intake, models[name]), held, 1)
            by_group[name] = figures(held, got, us)
            rows += held
            results += got
        out.append(WriterFigures(threshold, figures(rows, results, 0.0), by_group))
    return out


def evaluate(understander: Understander, rows: Sequence[Row], repeat: int = 5) -> Figures:
    results, us = _read(understander, rows, repeat)
    return figures(rows, results, us)


def cross_validated(policy: Policy, rows: Sequence[Row], extra: Sequence[Row], folds: int = FOLDS,
                    repeat: int = 1) -> Figures:
    """`rows` measured in `folds` parts, each by a model trained on `extra` and the other parts."""
    part = {r["id"]: int(hashlib.sha256(r["id"].encode()).hexdigest(), 16) % folds for r in rows}
    ordered: list[Row] = []
    results: list[Understanding] = []
    total_us = 0.0
    for k in range(folds):
        held = [r for r in rows if part[r["id"]] == k]
        understander = understander_for(policy, [*extra, *(r for r in rows if part[r["id"]] != k)])
        got, us = _read(understander, held, repeat)
        ordered += held
        results += got
        total_us += us * len(held)
    return figures(ordered, results, total_us / max(1, len(rows)))


def _read(understander: Understander, rows: Sequence[Row], repeat: int) -> tuple[list[Understanding], float]:
    """The answers for `rows` read as one batch, and the µs per ticket of the best of `repeat` runs."""
    reports = [{"category": r.get("hotline_category", ""), "content": r["text"]} for r in rows]
    understander.understand_many(reports[:10])  # warm up
    best = float("inf")
    results: list[Understanding] = []
    for _ in range(repeat):  # the best run: other processes on a shared machine only ever add time
        started = time.perf_counter()
        results = understander.understand_many(reports)
        best = min(best, time.perf_counter() - started)
    return results, best / max(1, len(rows)) * 1e6


def figures(rows: Sequence[Row], results: Sequence[Understanding], us: float) -> Figures:
    n = len(rows) or 1
    clear = [i for i, r in enumerate(rows) if r.get("clear") == "1"]
    first = [u.category or (u.suggestions[0].code if u.suggestions else None) for u in results]
    three = [{u.category, *(s.code for s in u.suggestions[:3])} for u in results]
    # A row without a code is meaningless: right when it reaches triage as category_unclear.
    unclear = [u.category is None and u.reason == "category_unclear" for u in results]
    hit1 = [unclear[i] if not r["code"] else first[i] == r["code"] for i, r in enumerate(rows)]
    hit3 = [unclear[i] if not r["code"] else r["code"] in three[i] for i, r in enumerate(rows)]
    wrong = [u.category is not None and u.category != r["code"] for u, r in zip(results, rows, strict=True)]
    flagged = [bool(u.danger) for u in results]
    danger = [r.get("danger") == "1" for r in rows]
    true_pos = sum(f and d for f, d in zip(flagged, danger, strict=True))
    return Figures(
        rows=len(rows), top1=sum(hit1) / n, top3=sum(hit3) / n, clear_rows=len(clear),
        top1_clear=sum(hit1[i] for i in clear) / (len(clear) or 1),
        top3_clear=sum(hit3[i] for i in clear) / (len(clear) or 1),
        triage_rate=sum(u.category is None for u in results) / n, wrong_rate=sum(wrong) / n,
        wrong_rate_clear=sum(wrong[i] for i in clear) / (len(clear) or 1),
        danger_precision=true_pos / (sum(flagged) or 1), danger_recall=true_pos / (sum(danger) or 1),
        us_per_ticket=us,
        wrong=tuple((r["id"], r["code"], u.category, r["text"]) for u, r, w in zip(results, rows, wrong, strict=True)
                    if w),
        confusions=tuple((expected, got, count) for (expected, got), count in Counter(
            (rows[i]["code"], first[i]) for i in clear if rows[i]["code"] and not hit1[i]).most_common()))


def main(split: str = "test", path: Path = LABELLED, policy: Policy | None = None, verbose: bool = False,
         by_writer: Sequence[float] = ()) -> int:
    from tools.demo_matrix import demo_policy

    rows = read_rows(path)
    policy = policy or demo_policy()
    if by_writer:
        return _print_by_writer(policy, by_writer)
    # Trained as the hub trains, whichever file is measured (a held-out file is never trained on).
    training = training_rows(rows if path.resolve() == LABELLED else read_rows(LABELLED))
    if rows and "split" not in rows[0] and split == "dev":
        print(f"{path.name} has no split column: it is measured whole (leave out --split dev)")
        return 2
    if split == "dev":
        measured = cross_validated(policy, relabelled([r for r in rows if r["split"] == "dev"]),
                                   read_training(WRITTEN_TRAINING_FILES), repeat=5)
        print(f"intake understanding on the dev part of {path.name} ({FOLDS}-fold cross-validation):")
    elif rows and "split" not in rows[0]:
        measured = evaluate(understander_for(policy, training), rows)
        print(f"intake understanding on {path.name} (all rows: the file has no split):")
    else:
        measured = evaluate(understander_for(policy, training), [r for r in rows if r["split"] == split])
        name = "validation part (the burned test part)" if split == "test" and path.resolve() == LABELLED \
            else f"{split} part"
        print(f"intake understanding on the {name} of {path.name}:")
    for line in measured.lines():
        print("  " + line)
    if verbose:
        names = {path[-1].code: path[-1].name for path in policy.matrix.leaves()} if policy.matrix else {}
        for expected, got, count in measured.confusions:
            read_as = names.get(got or "", got)
            print(f"  missed (clear texts): {names.get(expected, expected)} read as {read_as}: {count}")
        for row_id, expected, got, text in measured.wrong:
            print(f"  wrong {row_id}: {expected} → {got}: {text}")
    return 0


def _print_by_writer(policy: Policy, thresholds: Sequence[float]) -> int:
    groups, always = writer_groups(read_rows(LABELLED))
    print(f"intake understanding, leave one writer out ({len(groups)} groups, {sum(map(len, groups.values()))} "
          f"rows; the {len(always)} extra texts always trained on):")
    pct = "{:.1%}".format
    for found in leave_one_writer_out(policy, groups, always, thresholds):
        f = found.pooled
        print(f"  threshold {found.threshold:.2f}: clear top-1 {pct(f.top1_clear)}, top-3 {pct(f.top3_clear)}, "
              f"wrong {pct(f.wrong_rate)} (clear {pct(f.wrong_rate_clear)}), triage {pct(f.triage_rate)}, "
              f"danger words precision {pct(f.danger_precision)} recall {pct(f.danger_recall)}")
        for name, g in found.by_group.items():
            print(f"    {name:<22} rows {g.rows:4}  clear top-1 {pct(g.top1_clear):>6}  wrong {pct(g.wrong_rate):>5}  "
                  f"triage {pct(g.triage_rate):>6}")
    return 0


if __name__ == "__main__":  # python -m tools.eval_intake [dev|test]
    import sys

    raise SystemExit(main(sys.argv[1] if len(sys.argv) > 1 else "test"))
