"""The Nanning demo responsibility matrix, read from the demo policy file the hub ships (hub/data/demo_policy.json).

The matrix is configuration, not code: it is the `matrix` of a `dispatch.policy.Policy` as JSON, exactly what a
deployment puts in `CITYLOOP_POLICY_FILE`. `cityloop demo` points that setting at the file; this module reads the
same file for the simulator (county names, the categories its texts use) and the tests.

Categories follow the classes of GB/T 30428.2 (数字化城市管理信息系统 管理部件和事件: 公用设施, 道路交通,
市容环境, 街面秩序, ...) three levels deep, plus the public-service and enquiry classes 12345 tickets carry.
Aliases are the channel category names (the simulator's and the hotline's). The units are illustrative:
a real 权责清单 comes from the city's own catalogue. Rules worth knowing (JSON has no comments):

- R-sanitation-township / R-sanitation-county: sanitation (03) is a township duty (属地管理) with the county's
  城管 assisting; county-level when the township is not known yet.
- R-sanitation-hengzhou: 横州市 contracts street cleaning county-wide, so its 城管局 leads wherever the rubbish is.
- 08 咨询建议 has no rule on purpose: it shows the 属地兜底 fallback.
- S-national-highway: a national highway (国道, G-numbered road) belongs to the county transport bureau.
"""

from __future__ import annotations

import json
from typing import Any

from dispatch.matrix import Matrix
from dispatch.policy import Policy
from hub.data import DEMO_POLICY_FILE

__all__ = ["DEMO_POLICY_FILE", "demo_matrix", "demo_policy", "nanning_matrix"]


def nanning_matrix() -> dict[str, Any]:
    """The matrix as plain JSON data, a fresh copy on every call (a test may edit it)."""
    data: dict[str, Any] = json.loads(DEMO_POLICY_FILE.read_bytes())["matrix"]
    return data


def demo_policy() -> Policy:
    """The whole demo policy, as `cityloop demo` runs with it."""
    return Policy.model_validate_json(DEMO_POLICY_FILE.read_bytes())


def demo_matrix() -> Matrix:
    return Matrix.model_validate(nanning_matrix())
