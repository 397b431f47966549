"""The understanding step of intake (智能分拨): category, confidence, evidence and urgency from a report's words.

`Understander(matrix, policy.intake, model)` is built once; `understand(report, learned=...)` answers one
report, `understand_many` a batch (the model scores it in one call). `dispatch.case.receive` takes the answer.
"""

from dispatch.understanding.config import DangerWords, IntakePolicy
from dispatch.understanding.model import TextModel, train
from dispatch.understanding.understander import (
    URGENCY_RANK,
    Learned,
    Suggestion,
    Understander,
    Understanding,
    raised_urgency,
    trained,
)

__all__ = ["URGENCY_RANK", "DangerWords", "IntakePolicy", "Learned", "Suggestion", "TextModel", "Understander",
           "Understanding", "raised_urgency", "train", "trained"]
