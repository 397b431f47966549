"""The understanding step's model, trained when the hub starts from the labelled texts it ships.

`hub/data/intake_training.csv` is the development part of the labelled set (tests/fixtures/
tickets_labelled.csv, split == "dev"; how it was made: README, "Intake understanding");
`hub/data/intake_training_extra.csv` holds texts written for training only, without seeing the test part (how:
hub/data/intake_training_extra.md); `intake_training_voices.csv` texts by four more writers and
`intake_training_retired.csv` the used-up measurement sets (how: hub/data/intake_training_voices.md). The test
part is never trained on. Training takes 0.5 s on a quiet machine
and 3 s under load; it runs in a thread while the gazetteer loads, once per process and training files (a test
process builds many hubs). With a cache directory (the hub's CITYLOOP_DATA_DIR) the fitted model is kept there,
named by the digest of everything it depends on, and read back only when that digest matches.
"""

from __future__ import annotations

import csv
import hashlib
import logging
import os
import pickle
import platform
from importlib.metadata import version
from pathlib import Path
from typing import Final

import dispatch.understanding
from dispatch.matrix import Matrix
from dispatch.policy import Policy
from dispatch.understanding import IntakePolicy, TextModel, Understander, trained

log = logging.getLogger(__name__)

TRAINING_FILE: Final = Path(__file__).resolve().parent.parent / "data" / "intake_training.csv"
EXTRA_TRAINING_FILE: Final = TRAINING_FILE.with_name("intake_training_extra.csv")
# Issue 16's fourth round: texts by four more writers, each in a voice of their own (a `group` column names the
# writer), and the measurement sets used up by earlier rounds (the held-out set, blind sets 2 and 3; `group`
# names the set). Provenance: hub/data/intake_training_voices.md.
VOICES_TRAINING_FILE: Final = TRAINING_FILE.with_name("intake_training_voices.csv")
RETIRED_TRAINING_FILE: Final = TRAINING_FILE.with_name("intake_training_retired.csv")
# Everything trained on besides the labelled set's development part, each file written by other hands.
WRITTEN_TRAINING_FILES: Final = (EXTRA_TRAINING_FILE, VOICES_TRAINING_FILE, RETIRED_TRAINING_FILE)
TRAINING_FILES: Final = (TRAINING_FILE, *WRITTEN_TRAINING_FILES)
# Issue 16's fifth round: labels changed by an audit against the writers' brief (its scope notes and the rule that
# a question, suggestion or praise is 咨询/建议/表扬 whatever it mentions), kept apart from the files as written:
# file, id, old_code, new_code, reason. Provenance: hub/data/intake_training_voices.md.
RELABELS_FILE: Final = TRAINING_FILE.with_name("intake_training_relabels.csv")


def build_understander(policy: Policy, training_files: tuple[Path, ...] = TRAINING_FILES,
                       cache_dir: Path | None = None) -> Understander | None:
    """The policy's understander (None without a matrix: nothing to recognise), with the model when there are
    labelled texts for at least two of the matrix's leaves; `cache_dir`: where the fitted model is kept."""
    if policy.matrix is None:
        return None
    # Cached by the policy's content (a frozen model; a test process builds many hubs with a few policies, each
    # with its own data directory: the model built first serves them all).
    key = (policy.matrix.model_dump_json(), policy.intake.model_dump_json(), training_files)
    if key not in _BUILT:
        _BUILT[key] = _understander(policy.matrix, policy.intake, training_files, cache_dir)
    return _BUILT[key]


_BUILT: dict[tuple[str, str, tuple[Path, ...]], Understander] = {}
_CACHE_SUBDIR: Final = "intake-model"
# The code the fitted model depends on: the features (keyword matches, folding) and the model's own class.
_CODE_FILES: Final = tuple(sorted(Path(dispatch.understanding.__file__).parent.glob("*.py")))


def read_training(files: tuple[Path, ...] = TRAINING_FILES, *, relabel: bool = True) -> list[dict[str, str]]:
    """The labelled training rows (id, text, code) of the files that exist, in order; with `relabel`, the
    audit's labels (RELABELS_FILE) in place of the writers'."""
    rows: list[dict[str, str]] = []
    for path in files:
        if path.is_file():
            with path.open(encoding="utf-8", newline="") as f:
                rows += csv.DictReader(f)
    return relabelled(rows) if relabel else rows


def read_relabels(path: Path = RELABELS_FILE) -> dict[str, tuple[str, str]]:
    """The audit's changes: row id → (the writer's code, the audit's code). Ids are unique across the files."""
    if not path.is_file():
        return {}
    with path.open(encoding="utf-8", newline="") as f:
        return {row["id"]: (row["old_code"], row["new_code"]) for row in csv.DictReader(f)}


def relabelled(rows: list[dict[str, str]], relabels: dict[str, tuple[str, str]] | None = None) -> list[dict[str, str]]:
    """`rows` with the audit's codes; a change applies only to the row that still carries the code it changed."""
    changes = read_relabels() if relabels is None else relabels
    out = []
    for row in rows:
        old, new = changes.get(row.get("id", ""), ("", ""))
        out.append({**row, "code": new} if old and row.get("code") == old else row)
    return out


def _understander(matrix: Matrix, intake: IntakePolicy, training_files: tuple[Path, ...],
                  cache_dir: Path | None = None) -> Understander:
    """Trained on the texts labelled with one of the matrix's leaves (rows for other categories are left out),
    or read from `cache_dir` when a model fitted on the same inputs by the same code is kept there."""
    found = read_training(training_files)
    if not found:
        log.warning("no intake training texts: categories are read from keywords only",
                    extra={"training_files": [str(p) for p in training_files]})
        return Understander(matrix, intake)
    leaves = {path[-1].code for path in matrix.leaves()}
    rows = [(row["text"], row["code"]) for row in found if row.get("code") in leaves]
    if len({code for _, code in rows}) < 2:
        return Understander(matrix, intake)
    if cache_dir is None:
        return trained(matrix, intake, [text for text, _ in rows], [code for _, code in rows])
    digest = model_digest(matrix, intake, rows)
    path = cache_dir / _CACHE_SUBDIR / f"{digest}.pickle"
    model = _load(path, digest)
    if model is not None:
        return Understander(matrix, intake, model)
    understander = trained(matrix, intake, [text for text, _ in rows], [code for _, code in rows])
    assert understander.model is not None
    _save(path, digest, understander.model)
    return understander


def model_digest(matrix: Matrix, intake: IntakePolicy, rows: list[tuple[str, str]]) -> str:
    """SHA-256 of everything a fitted model depends on: the training texts and codes, the matrix (its keywords
    are features), the intake policy (negations decide which keywords count), the code of
    dispatch/understanding and the versions of Python, scikit-learn, NumPy and SciPy (a pickle is only read back by
    the versions that wrote it)."""
    h = hashlib.sha256()
    for part in (matrix.model_dump_json(), intake.model_dump_json(), platform.python_version(),
                 *(version(p) for p in ("scikit-learn", "numpy", "scipy"))):
        h.update(part.encode())
        h.update(b"\0")
    for path in _CODE_FILES:
        h.update(path.read_bytes())
        h.update(b"\0")
    for text, code in rows:
        h.update(f"{text}\t{code}\n".encode())
    return h.hexdigest()


def _load(path: Path, digest: str) -> TextModel | None:
    """The model kept at `path` when it carries `digest` (the name alone is not trusted), else None. The data
    directory is the hub's own (its database lives there too): what it holds was written by `_save`."""
    try:
        with path.open("rb") as f:
            kept = pickle.load(f)  # noqa: S301 - our own file, in our own data directory
    except FileNotFoundError:
        return None
    except Exception:  # a truncated or foreign file: train again and overwrite it
        log.warning("unreadable intake model cache: training again", extra={"path": str(path)}, exc_info=True)
        return None
    model = kept.get("model") if isinstance(kept, dict) and kept.get("digest") == digest else None
    if not isinstance(model, TextModel):
        log.warning("intake model cache does not match its inputs: training again", extra={"path": str(path)})
        return None
    return model


def _save(path: Path, digest: str, model: TextModel) -> None:
    """Keep the model for the next start (atomically: a reader never sees half a file); older ones are removed.
    A failure only costs the next start its training."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        for old in path.parent.glob("*.pickle"):
            if old != path:
                old.unlink(missing_ok=True)
        partial = path.with_name(f".{path.name}.{os.getpid()}")
        with partial.open("wb") as f:
            pickle.dump({"digest": digest, "model": model}, f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(partial, path)
    except OSError:
        log.warning("could not keep the intake model", extra={"path": str(path)}, exc_info=True)
