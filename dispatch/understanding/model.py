"""The learned part of the content classifier: character n-grams of the complaint, weighted by TF-IDF, beside
the per-leaf keyword matches, into a logistic regression over our leaves. Trained on labelled ticket texts
given by the caller (the hub reads them from the CSV it ships; this module does no I/O).

Why character n-grams and not word segmentation: complaints are short and colloquial, and the words that
decide ("不亮", "井盖", "占道") are one to three characters; n-grams of one and two characters catch them
without a dictionary, and a misspelt word still shares most of its n-grams (the longer phrases are the keyword
features' work). 1–3-grams, 1–4-grams and plain `char` n-grams measured the same within a row or two on the
held-out set, the validation part and the development part's cross-validation (2026-12-06); 1–2-grams are
the fastest of them. jieba words beside the n-grams
(a FeatureUnion) were cross-validated on the training data: no gain on the development part, +0.5 point on
the extra texts, for about 70 µs more per ticket and half a second to a second and a half of dictionary load at
start-up, so they are not used (README, "Intake understanding"). Nor is CalibratedClassifierCV: with 26 leaves
and about forty texts each, sigmoid or isotonic calibration sent most texts to triage without making fewer wrong;
the threshold is tuned by cross-validation instead. Why the keyword matches are features: the model
learns how far to trust each leaf's keywords, so its probability is the content's one confidence.
scikit-learn is imported when a model is trained, so that a hub without training data never pays for it, and a
model kept in a file reads back without it (`TextModel.__getstate__`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from dispatch.understanding.text import folded

Weights = Mapping[str, float]  # leaf code → matched keyword weight, for one text

# Inverse regularisation of the logistic regression, cross-validated on the training texts with the threshold:
# a weaker regularisation makes the model surer of itself, fewer texts go to triage, and the keyword-sharing
# rule (understander) keeps the complaints that name two problems from being dispatched.
_C = 100.0
_KEYWORD_CAP = 8.0  # matched keyword characters beyond this add nothing
# Keyword weight per unit of feature. The keyword lists were written from the first writers' words; with
# fourteen writers' texts the n-grams generalise better than the lists do, so the keywords weigh little in the
# model (they still decide the rules: two problems, evidence). Leave one writer out (eleven groups, 3,097 texts,
# issue 16's seventh round): 6 → 32 took clear top-1 94.2 → 95.1 %, wrong dispatches 1.71 → 1.39 % at the same
# triage (31.1 → 31.4 %); 8, 12, 16, 20, 24, 48, 64 and no weight at all were measured beside it (README).
_KEYWORD_SCALE = 32.0
_EVIDENCE_GRAMS = 6  # the heaviest n-grams of a text looked at for a class's evidence (at most three are kept)


@dataclass(frozen=True, slots=True)
class ModelGuess:
    scores: dict[str, float]  # leaf code → probability, every leaf the model knows
    evidence: dict[str, list[str]]  # for the best leaves: the n-grams of the text that weighed most for them


def _keyword_block(rows: int, keywords: Sequence[Weights] | None, leaves: Mapping[str, int]) -> Any:
    """The keyword features of `rows` texts: one column per leaf, the matched weight capped and scaled."""
    extra = np.zeros((rows, len(leaves)))
    for row, weights in enumerate(keywords or ()):
        for code, weight in weights.items():
            if code in leaves:
                extra[row, leaves[code]] = min(weight, _KEYWORD_CAP) / _KEYWORD_SCALE
    return extra


def _features(grams: Any, keywords: Sequence[Weights] | None, leaves: Mapping[str, int]) -> Any:
    from scipy.sparse import csr_matrix, hstack  # type: ignore[import-untyped]  # training and tests only

    if not leaves:
        return grams
    return hstack([grams, csr_matrix(_keyword_block(grams.shape[0], keywords, leaves))]).tocsr()


def _by_gram(coef: Any) -> Any:
    """The n-gram weights one row per n-gram (grams × classes, contiguous). Scoring a text reads the rows of its
    hundred-odd n-grams: adjacent memory, where the fitted (classes × grams) matrix spreads each n-gram's weights
    over 26 rows 290 kB apart — a cache line per weight, which under load (the hub's cores shared with PostgreSQL)
    made reading a text twice as slow as on a quiet machine (py-spy, 2026-12-07)."""
    return np.ascontiguousarray(np.asarray(coef).T)


class CharWbGrams:
    """scikit-learn's `char_wb` analyzer for a vectorizer that lowercases and does nothing else to the text: the
    n-grams of each whitespace-separated word padded with a space, a word shorter than n once. A small object of
    our own, so that a kept model holds no scikit-learn object: reading one back imported scikit-learn and what it
    imports (SciPy's sparse and stats modules), 1.4 s of the hub's 4.7 s of start-up CPU (py-spy, 2026-12-07). The
    test of the direct scoring compares the two analyzers' columns on every training text."""

    def __init__(self, min_n: int, max_n: int) -> None:
        self.min_n, self.max_n = min_n, max_n

    def __call__(self, text: str) -> list[str]:
        grams: list[str] = []
        for word in text.lower().split():
            padded = f" {word} "
            for n in range(self.min_n, self.max_n + 1):
                if len(padded) <= n:
                    grams.append(padded)  # scikit-learn's "count a short word once", then no longer n
                    break
                grams.extend(padded[i:i + n] for i in range(len(padded) - n + 1))
        return grams


class _GramKeys:
    """The vocabulary of a `char_wb` analyzer of 1- and 2-character n-grams (`CharWbGrams(1, 2)`, the one `train`
    fits) as sorted integer keys: a character is its code point, a pair (first + 1) · 2²¹ + second (code points
    are below 2²¹, so a pair's key is above every character's). A batch's n-grams are then found for all its texts
    at once — code-point arrays and one `searchsorted` — with no string made per n-gram. The tests compare the
    scores with scikit-learn's on every training text, and each text of a mixed batch with the text alone."""

    def __init__(self, vocabulary: Mapping[str, int], min_n: int, max_n: int) -> None:
        assert 1 <= min_n <= max_n <= 2
        self._singles, self._pairs = min_n == 1, max_n == 2
        keys = np.fromiter((_gram_key(g) for g in vocabulary), dtype=np.int64, count=len(vocabulary))
        columns = np.fromiter(vocabulary.values(), dtype=np.int64, count=len(vocabulary))
        order = np.argsort(keys)
        self._keys, self._columns = keys[order], columns[order]

    def cells(self, texts: Sequence[str]) -> tuple[Any, Any]:
        """(text index, column) of each n-gram of `texts` (folded) that the vocabulary knows, once per occurrence."""
        words = [text.lower().split() for text in texts]  # as CharWbGrams splits them
        flat = [word for split in words for word in split]
        if not flat:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
        # Each word padded with a space on both sides, as the analyzer pads it; a word's last character (its
        # padding) starts no pair, so no pair spans two words or two texts.
        points = np.frombuffer("".join(f" {w} " for w in flat).encode("utf-32-le", "surrogatepass"),
                               dtype=np.uint32).astype(np.int64)
        lengths = np.fromiter((len(w) + 2 for w in flat), dtype=np.int64, count=len(flat))
        per_text = np.fromiter((len(split) for split in words), dtype=np.int64, count=len(words))
        text_of = np.repeat(np.repeat(np.arange(len(texts)), per_text), lengths)
        keys, rows = [], []
        if self._singles:
            keys.append(points)
            rows.append(text_of)
        if self._pairs:
            starts = np.ones(len(points), dtype=bool)
            starts[np.cumsum(lengths) - 1] = False
            first = np.flatnonzero(starts)
            keys.append(((points[first] + 1) << 21) | points[first + 1])
            rows.append(text_of[first])
        found, at = np.concatenate(keys), np.concatenate(rows)
        index = np.minimum(np.searchsorted(self._keys, found), len(self._keys) - 1)
        known = self._keys[index] == found
        return at[known], self._columns[index[known]]


def _gram_key(gram: str) -> int:
    return ord(gram) if len(gram) == 1 else (ord(gram[0]) + 1) << 21 | ord(gram[1])


def _gram_keys(analyze: Callable[[str], list[str]], vocabulary: Mapping[str, int]) -> _GramKeys | None:
    """The batch lookup for our analyzer of 1–2-character n-grams; None (text by text) for any other."""
    if isinstance(analyze, CharWbGrams) and analyze.max_n <= 2 and vocabulary:
        return _GramKeys(vocabulary, analyze.min_n, analyze.max_n)
    return None


def _analyzer(vectorizer: Any) -> Callable[[str], list[str]]:
    """The vectorizer's analyzer: ours when it is plain `char_wb` (see CharWbGrams), else scikit-learn's own."""
    plain = (vectorizer.analyzer == "char_wb" and vectorizer.lowercase and vectorizer.strip_accents is None
             and vectorizer.preprocessor is None and vectorizer.input == "content")
    return CharWbGrams(*vectorizer.ngram_range) if plain else vectorizer.build_analyzer()


class TextModel:
    """A trained classifier: `guess_many` scores a batch of texts in one call.

    Scoring does scikit-learn's arithmetic with its fitted parts (the vectorizer's analyzer, vocabulary and idf,
    the regression's weights) rather than calling `transform` and `predict_proba`: their input checks and sparse
    conversions cost ~0.9 ms per call, which a commit of one or two tickets — the hub's usual batch at an ordinary
    rate — paid per ticket (28 % of the hub's samples under 300 tickets/s). The same figures to 1e-12: a test
    compares them with scikit-learn's on every training text."""

    def __init__(self, vectorizer: Any, classifier: Any, leaves: Mapping[str, int]) -> None:
        self._vectorizer = vectorizer
        self._classifier = classifier
        self._leaves = dict(leaves)  # the keyword features' columns after the n-grams (empty: none)
        self.classes: list[str] = [str(c) for c in classifier.classes_]
        self._grams = vectorizer.get_feature_names_out()
        self._gram_names = [str(g).strip() for g in self._grams]  # as evidence shows them (char_wb pads words)
        coef = np.asarray(classifier.coef_)[:, : len(self._grams)]
        # Two classes: scikit-learn keeps one row of weights, for the second class (the first's is its negative).
        # Kept one row per n-gram (_by_gram), the only layout scoring reads.
        self._by_gram = _by_gram(np.vstack([-coef, coef]) if len(self.classes) == 2 else coef)
        # The fitted parts scored directly (see the class docstring); the vectorizer is TF-IDF with sublinear tf
        # and l2 rows, as `train` makes it, and the regression multinomial (softmax) over three classes or more.
        self._analyze = _analyzer(vectorizer)
        self._vocabulary: dict[str, int] = vectorizer.vocabulary_
        self._keys = _gram_keys(self._analyze, self._vocabulary)
        self._idf = np.asarray(vectorizer.idf_)
        self._direct = (len(self.classes) > 2 and vectorizer.sublinear_tf and vectorizer.norm == "l2"
                        and vectorizer.use_idf)
        self._keyword_coef = np.asarray(classifier.coef_)[:, len(self._grams):]  # one column per leaf
        self._intercept = np.asarray(classifier.intercept_)

    def __getstate__(self) -> dict[str, Any]:
        """What is pickled (the hub keeps its fitted model in its data directory): without scikit-learn's
        objects when the model scores directly with an analyzer of ours, so that reading it back imports none of
        scikit-learn; such a model scores as before and only the training and tests need the objects."""
        state = dict(self.__dict__)
        if self._direct and isinstance(self._analyze, CharWbGrams):
            state["_vectorizer"] = state["_classifier"] = None
        return state

    @property
    def uses_keywords(self) -> bool:
        return bool(self._leaves)

    def _gram_cells(self, texts: Sequence[str]) -> tuple[Any, Any]:
        """Every (text, n-gram column) of the batch that the vocabulary knows, one entry per occurrence: a text's
        row index and the column, as two arrays. For our 1–2-character analyzer this is done for the whole batch
        at once on code points (see `_GramKeys`); any other analyzer goes text by text through the vocabulary."""
        if self._keys is not None:
            return self._keys.cells([folded(t) for t in texts])
        rows, columns = [], []
        for row, text in enumerate(texts):
            for gram in self._analyze(folded(text)):
                if (column := self._vocabulary.get(gram)) is not None:
                    rows.append(row)
                    columns.append(column)
        return np.asarray(rows, dtype=np.int64), np.asarray(columns, dtype=np.int64)

    def _rows(self, texts: Sequence[str]) -> tuple[Any, Any, Any]:
        """The batch's TF-IDF rows as `transform` makes them (sublinear tf, idf, l2 per text), in CSR form:
        where each text's values start and end (`bounds`, one more than there are texts), their columns
        (ascending within a text) and the values. A few array operations for the whole batch: scoring a text at
        a time took 104–106 µs a text in batches of 30 and 100, 42–44 µs this way (2026-12-07)."""
        rows, columns = self._gram_cells(texts)
        width = len(self._grams)
        cells, counts = np.unique(rows * width + columns, return_counts=True)
        rows, columns = cells // width, cells % width
        values = (1.0 + np.log(counts)) * self._idf[columns]
        norms = np.sqrt(np.bincount(rows, weights=values * values, minlength=len(texts)))[rows]
        bounds = np.searchsorted(rows, np.arange(len(texts) + 1))
        return bounds, columns, np.divide(values, norms, out=values, where=norms > 0)

    def _scores(self, bounds: Any, contributions: Any, keywords: Sequence[Weights] | None) -> Any:
        """The class probabilities of each text: softmax of the linear scores, as `predict_proba` makes them.
        `contributions`: each stored value times its n-gram's weights (values × classes)."""
        count = len(bounds) - 1
        z = np.zeros((count, len(self.classes)))
        starts = bounds[:-1]
        some = starts < bounds[1:]  # a text with no known n-gram scores by its keywords and the intercept alone
        if some.any():
            z[some] = np.add.reduceat(contributions, starts[some], axis=0)
        if self._leaves and keywords:
            z += _keyword_block(count, keywords, self._leaves) @ self._keyword_coef.T
        z += self._intercept
        z -= z.max(axis=1, keepdims=True)
        np.exp(z, out=z)
        return z / z.sum(axis=1, keepdims=True)

    def _evidence(self, probabilities: Any, bounds: Any, columns: Any, contributions: Any,
                  top: int) -> list[dict[str, list[str]]]:
        """For each text's `top` classes, best first: the n-grams of the text that weighed most for it (value ×
        weight, positive only), the longer ones when there are any. `bounds`: where each text's stored values
        start and end. Text by text: ranking the whole batch at once (one sort of every value × class) measured
        slower than a few small sorts per text (40 against 25 µs a text in a batch of 100, 2026-12-07)."""
        out = []
        for row, p in enumerate(probabilities):
            a, b = bounds[row], bounds[row + 1]
            text_columns, weights = columns[a:b], contributions[a:b]
            evidence: dict[str, list[str]] = {}
            for i in np.argsort(-p)[:top]:
                weight = weights[:, i]
                best = [self._gram_names[text_columns[j]] for j in np.argsort(-weight)[:_EVIDENCE_GRAMS]
                        if weight[j] > 0]
                # The longer n-grams say more; single characters only when nothing longer weighed.
                longer = [g for g in best if len(g) > 1]
                evidence[self.classes[i]] = (longer or best)[:3]
            out.append(evidence)
        return out

    def guess_many(self, texts: Sequence[str], keywords: Sequence[Weights] | None = None,
                   top: int = 3) -> list[ModelGuess]:
        """Scores for a batch; `keywords`: per text, each leaf's keyword weight (as in training)."""
        if not texts:
            return []
        if self._direct:
            bounds, columns, values = self._rows(texts)
            contributions = values[:, None] * self._by_gram[columns]
            probabilities = self._scores(bounds, contributions, keywords)
        else:
            grams = self._vectorizer.transform([folded(t) for t in texts]).tocsr()
            probabilities = self._classifier.predict_proba(_features(grams, keywords, self._leaves))
            columns, bounds = grams.indices, grams.indptr
            contributions = grams.data[:, None] * self._by_gram[columns]
        evidence = self._evidence(probabilities, bounds, columns, contributions, top)
        return [ModelGuess(dict(zip(self.classes, p, strict=True)), found)
                for p, found in zip(probabilities.tolist(), evidence, strict=True)]


def train(texts: Sequence[str], codes: Sequence[str], keywords: Sequence[Weights] | None = None,
          leaves: Sequence[str] = ()) -> TextModel:
    """Fit the model on labelled texts (the hub's training texts); `keywords`: per text, the
    keyword weight of each of `leaves` (as `Understander.keyword_weights` finds them), or None for n-grams only."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    columns = {code: i for i, code in enumerate(leaves)} if keywords is not None else {}
    vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 2), sublinear_tf=True)
    grams = vectorizer.fit_transform([folded(t) for t in texts]).tocsr()
    # saga: well under a second on the training texts, where lbfgs took seconds (README, "Intake
    # understanding"); a fixed seed, since saga visits the rows in a random order and the figures should repeat.
    classifier = LogisticRegression(C=_C, solver="saga", tol=1e-3, max_iter=1000, random_state=0)
    classifier.fit(_features(grams, keywords, columns), list(codes))
    return TextModel(vectorizer, classifier, columns)
