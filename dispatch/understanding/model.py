"""The learned part of the content classifier: character n-grams of the complaint, weighted by TF-IDF, and a
logistic regression over our leaves, trained on labelled ticket texts given by the caller (the hub reads them
from the CSV it ships; this module does no I/O).

Why character n-grams and not word segmentation: Chinese complaints are short, and the words that decide
("不亮", "井盖", "占道") are one to three characters; n-grams of one to three characters catch them without a
dictionary, and misspellings still share most of their n-grams. jieba would add ~1 s of dictionary load at
start-up for no measured gain (README, "Intake understanding"). scikit-learn is imported when a model is
trained, so that a hub without training data never pays for its import.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from dispatch.understanding.text import folded


@dataclass(frozen=True, slots=True)
class ModelGuess:
    scores: dict[str, float]  # leaf code → probability, every leaf the model knows
    evidence: dict[str, list[str]]  # for the best leaves: the n-grams of the text that weighed most for them


class TextModel:
    """A trained classifier: `guess_many` scores a batch of texts in one call."""

    def __init__(self, vectorizer: Any, classifier: Any) -> None:
        self._vectorizer = vectorizer
        self._classifier = classifier
        self.classes: list[str] = [str(c) for c in classifier.classes_]
        self._features = vectorizer.get_feature_names_out()
        self._coef = np.asarray(classifier.coef_)

    def guess_many(self, texts: Sequence[str], top: int = 3) -> list[ModelGuess]:
        if not texts:
            return []
        matrix = self._vectorizer.transform([folded(t) for t in texts]).tocsr()
        probabilities = self._classifier.predict_proba(matrix)
        out = []
        for row in range(len(texts)):
            p = probabilities[row]
            scores = {c: float(p[i]) for i, c in enumerate(self.classes)}
            start, end = matrix.indptr[row], matrix.indptr[row + 1]
            columns, values = matrix.indices[start:end], matrix.data[start:end]
            evidence: dict[str, list[str]] = {}
            for i in np.argsort(-p)[:top]:
                weight = values * self._coef[i, columns]
                best = [str(self._features[columns[j]]).strip() for j in np.argsort(-weight)[:6] if weight[j] > 0]
                # The longer n-grams say more; single characters only when nothing longer weighed.
                longer = [g for g in best if len(g) > 1]
                evidence[self.classes[i]] = (longer or best)[:3]
            out.append(ModelGuess(scores, evidence))
        return out


def train(texts: Sequence[str], codes: Sequence[str]) -> TextModel:
    """Fit the model on labelled texts (the development part of the labelled set)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3), sublinear_tf=True, min_df=1)
    features = vectorizer.fit_transform([folded(t) for t in texts])
    classifier = LogisticRegression(C=10.0, max_iter=2000)
    classifier.fit(features, list(codes))
    return TextModel(vectorizer, classifier)
