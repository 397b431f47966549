"""The states a case can be in (工单状态), and the groups of them the rest of the hub asks about.

Named once here, for the fold, the duplicate check, the hub's SQL and — through the console config — both
consoles. A module of its own with no imports, because the fold's own handlers (dispatch.sensors) need
the groups too.
"""

from __future__ import annotations

from typing import Final

STATES: Final = (
    "received", "triage", "dispatched", "return_requested", "accepted",
    "resolved", "closed", "merged", "parked", "rejected",
)

# Finished (已结束): nobody works on the case itself any more. Closed is final; a rejected case can still
# be reopened and a merged one split off, but until then the work (if any) happens elsewhere.
FINISHED_STATES: Final = frozenset({"closed", "rejected", "merged"})

# Open (未结束): every other state, including a parked case and a resolved one awaiting its callback.
OPEN_STATES: Final = frozenset(STATES) - FINISHED_STATES

# Open and not yet resolved: the work itself is still under way. A new report of the same problem joins
# such a case as a duplicate; after the resolution it is a new case (or a redo after the callback).
UNRESOLVED_STATES: Final = OPEN_STATES - {"resolved"}
