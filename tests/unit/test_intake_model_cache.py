"""The fitted intake model kept in the data directory (issue 16, start-up): read back only when the digest of
its inputs and code matches, never when a file with the right name holds something else; a new training set
is a new digest."""

from __future__ import annotations

import csv
import json
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from hub.services.understanding import _understander, model_digest
from tools.demo_matrix import demo_policy

POLICY = demo_policy()
ROWS = [("路灯不亮，晚上好黑", "010101"), ("那排路灯坏了一个星期", "010101"), ("路灯一闪一闪的", "010101"),
        ("井盖丢了，很危险", "010201"), ("路中间的井盖松了", "010201"), ("井盖翘起来了", "010201")]


def training(tmp_path: Path, rows: list[tuple[str, str]]) -> tuple[Path, ...]:
    path = tmp_path / "training.csv"
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "text", "code"])
        writer.writerows((f"c{i}", text, code) for i, (text, code) in enumerate(rows))
    return (path,)


def build(tmp_path: Path, rows: list[tuple[str, str]] = ROWS):  # type: ignore[no-untyped-def]
    assert POLICY.matrix is not None
    return _understander(POLICY.matrix, POLICY.intake, training(tmp_path, rows), tmp_path / "data")


def kept(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "data" / "intake-model").glob("*.pickle"))


def test_the_model_is_kept_under_its_digest_and_read_back(tmp_path: Path) -> None:
    first = build(tmp_path)
    assert POLICY.matrix is not None
    digest = model_digest(POLICY.matrix, POLICY.intake, ROWS)
    assert [p.name for p in kept(tmp_path)] == [f"{digest}.pickle"]
    # Mark the kept model: the second build returns the marked one (read back, not trained again).
    with kept(tmp_path)[0].open("rb") as f:
        payload = pickle.load(f)
    payload["model"].marked = True
    with kept(tmp_path)[0].open("wb") as f:
        pickle.dump(payload, f)
    second = build(tmp_path)
    assert getattr(second.model, "marked", False)
    report = {"category": "其他", "content": "路灯坏了"}
    assert second.understand(report) == first.understand(report)


def test_a_kept_file_whose_digest_does_not_match_is_never_used(tmp_path: Path) -> None:
    build(tmp_path)
    path = kept(tmp_path)[0]
    with path.open("rb") as f:
        payload = pickle.load(f)
    payload["model"].marked = True
    payload["digest"] = "0" * 64  # the right file name, the wrong content
    with path.open("wb") as f:
        pickle.dump(payload, f)
    again = build(tmp_path)
    assert not getattr(again.model, "marked", False)
    with path.open("rb") as f:  # trained again and kept with its own digest
        assert pickle.load(f)["digest"] == path.stem
    path.write_bytes(b"not a pickle")  # a truncated or foreign file: trained again, no error
    assert build(tmp_path).model is not None


def test_other_training_texts_are_another_digest_and_replace_the_old_file(tmp_path: Path) -> None:
    build(tmp_path)
    before = kept(tmp_path)
    build(tmp_path, [*ROWS, ("井盖碎了", "010201")])
    after = kept(tmp_path)
    assert len(before) == len(after) == 1 and before != after


def test_a_kept_model_reads_back_without_scikit_learn_and_scores_the_same(tmp_path: Path) -> None:
    # A hub reads its kept model at start-up. Pickled with scikit-learn's vectorizer and regression, reading it
    # imported scikit-learn and the SciPy modules it pulls in: 1.4 s of the hub's 4.7 s of start-up CPU. A model
    # that scores directly is kept as arrays and an analyzer of ours (three classes: the direct, softmax path).
    rows = [*ROWS, ("雨水篦子被压坏了", "010302"), ("路边雨水口的铁篦子翘起", "010302"), ("雨水篦缺了一块", "010302")]
    model = build(tmp_path, rows).model
    assert model is not None and model._direct
    texts = ["路灯不亮了", "井盖松动很危险", "雨水篦子坏了 还有 路灯"]
    script = (
        "import json, pickle, sys\n"
        f"with open({str(kept(tmp_path)[0])!r}, 'rb') as f:\n"
        "    model = pickle.load(f)['model']\n"
        f"guesses = model.guess_many({texts!r})\n"
        "print(json.dumps({'sklearn': sorted(m for m in sys.modules if m.startswith(('sklearn', 'scipy.sparse'))),\n"
        "                  'scores': [g.scores for g in guesses], 'evidence': [g.evidence for g in guesses]}))\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[2])
    read_back = json.loads(out.stdout)
    assert read_back["sklearn"] == []
    here = model.guess_many(texts)
    assert read_back["scores"] == [pytest.approx(g.scores, abs=1e-12) for g in here]
    assert read_back["evidence"] == [g.evidence for g in here]
