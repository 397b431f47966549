"""Files the hub ships beside its code.

`demo_policy.json` is the Nanning demo policy (a `dispatch.policy.Policy` as JSON, the format of
`CITYLOOP_POLICY_FILE`): its responsibility matrix names illustrative units. `cityloop demo` points
`CITYLOOP_POLICY_FILE` at it; `cityloop serve` without a policy file falls back to it and says so in the log.
What the matrix holds and why its special rules are there: tools/demo_matrix.py.
"""

from pathlib import Path
from typing import Final

DEMO_POLICY_FILE: Final = Path(__file__).resolve().parent / "demo_policy.json"
