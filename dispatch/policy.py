"""Everything a deployment configures about the closed loop, in one validated model (no code changes)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from dispatch.matrix import Matrix
from dispatch.merge import MergePolicy
from dispatch.sla_policy import SlaPolicy


class Policy(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    # 退回 allowed this many times; the last one is arbitrated by the city and the case cannot go back again.
    max_returns: int = Field(default=2, ge=1)
    sla: SlaPolicy | None = Field(default_factory=SlaPolicy)  # None: no deadlines, no timers
    matrix: Matrix | None = None  # None: only the 属地兜底 fallback decides who acts
    merge: MergePolicy = Field(default_factory=lambda: MergePolicy())
