"""The headline's per-prefix sums give every one-area scope exactly what the access rule counts: a place once,
whichever of its codes lies in the scope (community codes that do not nest under their township's included),
and unplaced cases only for whoever watches the whole city."""

from __future__ import annotations

from geo.areas import code_prefix
from hub.identity.access import CITY_CODE, case_in_scopes
from hub.services.headline import FIGURES, _by_prefix

PLACES: list[tuple[list[str], tuple[int, ...]]] = [
    (["450103", "450103001", "450103001002", "450103001002001"], (3, 1, 1, 0, 2)),
    (["450103", "450103001"], (1, 0, 0, 1, 1)),
    # A renamed township whose communities kept an old prefix (450103100…): counted once under 450103.
    (["450103", "450103003", "450103100004"], (2, 1, 0, 0, 0)),
    (["450102", "450102003"], (5, 0, 2, 0, 4)),
    ([], (1, 0, 0, 1, 1)),  # unplaced: triage without a location
]
SCOPES = [CITY_CODE, "450000", "450103", "450102", "450105", "450103001", "450103003", "450103100",
          "450103001002", "450103100004", "450103001002001", "450102003"]


def by_rule(scope: str) -> list[int]:
    totals = [0] * len(FIGURES)
    for codes, counts in PLACES:
        if case_in_scopes(codes, frozenset({scope})):
            totals = [t + n for t, n in zip(totals, counts, strict=True)]
    return totals


def test_every_one_area_scope_sums_what_the_access_rule_counts() -> None:
    sums = _by_prefix(PLACES)
    for scope in SCOPES:
        assert sums.get(code_prefix(scope), [0] * len(FIGURES)) == by_rule(scope), scope
    assert by_rule("450103")[0] == 6 and by_rule(CITY_CODE)[0] == 12  # the fixture tests what it claims
