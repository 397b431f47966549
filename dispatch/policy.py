"""Everything a deployment configures about the closed loop, in one validated model (no code changes)."""

from __future__ import annotations

from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from dispatch.directives import DirectivePolicy
from dispatch.matrix import Matrix
from dispatch.merge import MergePolicy
from dispatch.sla_policy import SlaPolicy
from dispatch.understanding.config import IntakePolicy
from dispatch.warning import WarningPolicy


class Policy(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    # 退回 allowed this many times; the last one is arbitrated by the city and the case cannot go back again.
    max_returns: int = Field(default=2, ge=1)
    sla: SlaPolicy | None = Field(default_factory=SlaPolicy)  # None: no deadlines, no timers
    matrix: Matrix | None = None  # None: only the 属地兜底 fallback decides who acts
    merge: MergePolicy = Field(default_factory=lambda: MergePolicy())
    intake: IntakePolicy = Field(default_factory=IntakePolicy)  # how intake reads a report's words
    warning: WarningPolicy = Field(default_factory=WarningPolicy)  # early warning: surges and IoT area alarms
    directives: DirectivePolicy = Field(default_factory=DirectivePolicy)  # 政令一键智达: reminders, escalation

    @model_validator(mode="after")
    def _catalogue_names_leaves(self) -> Self:
        if self.matrix is None:
            return self
        leaves = {path[-1].code for path in self.matrix.leaves()}
        for key, code in self.intake.hotline_catalogue.items():
            if code not in leaves:
                raise ValueError(f"intake.hotline_catalogue.{key}: {code!r} is not a leaf category of the matrix")
        for i, code in enumerate(self.intake.framing_categories):
            if code not in leaves:
                raise ValueError(f"intake.framing_categories.{i}: {code!r} is not a leaf category of the matrix")
        return self
