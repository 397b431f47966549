"""geo.crs against published test vectors, plus round-trip properties."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geo.crs import Crs, check_lnglat, from_wgs84, to_wgs84

# googollee/eviltransform test suite, (wgsLat, wgsLng, gcjLat, gcjLng).
# These vectors are shared by the project's Go, Python, Ruby, C# and Haskell tests.
EVILTRANSFORM_GCJ = [
    (31.1774276, 121.5272106, 31.17530398364597, 121.531541859215),  # Shanghai
    (22.543847, 113.912316, 22.540796131694766, 113.9171764808363),  # Shenzhen
    (39.911954, 116.377817, 39.91334545536069, 116.38404722455657),  # Beijing
]

# wandergis/coordtransform README: the input is (116.404, 39.915) in (lng, lat)
# order for every function.
COORDTRANSFORM_INPUT = (116.404, 39.915)
COORDTRANSFORM_WGS84_TO_GCJ02 = (116.41024449916938, 39.91640428150164)
COORDTRANSFORM_GCJ02_TO_BD09 = (116.41036949371029, 39.92133699351021)
# coordtransform's bd09togcj02 is the one-shot approximate inverse (about 1e-6
# degrees). We solve the inverse exactly, so we compare at 1e-5.
COORDTRANSFORM_BD09_TO_GCJ02 = (116.39762729119315, 39.90865673957631)

FORWARD_TOL = 1e-9  # the forward formula is exact. Only float rounding differs
INVERSE_TOL = 1e-7  # about 1 cm


def close(a: tuple[float, float], b: tuple[float, float], tol: float) -> bool:
    return abs(a[0] - b[0]) <= tol and abs(a[1] - b[1]) <= tol


@pytest.mark.parametrize(("wgs_lat", "wgs_lng", "gcj_lat", "gcj_lng"), EVILTRANSFORM_GCJ)
def test_eviltransform_vectors(wgs_lat: float, wgs_lng: float, gcj_lat: float, gcj_lng: float) -> None:
    assert close(from_wgs84(wgs_lng, wgs_lat, Crs.GCJ02), (gcj_lng, gcj_lat), FORWARD_TOL)
    assert close(to_wgs84(gcj_lng, gcj_lat, Crs.GCJ02), (wgs_lng, wgs_lat), INVERSE_TOL)


def test_coordtransform_wgs84_to_gcj02() -> None:
    assert close(from_wgs84(*COORDTRANSFORM_INPUT, Crs.GCJ02), COORDTRANSFORM_WGS84_TO_GCJ02, FORWARD_TOL)


def test_coordtransform_gcj02_to_bd09() -> None:
    # Our API goes through WGS84. GCJ->WGS (exact inverse) then WGS->BD (exact
    # forward) must equal the direct GCJ->BD formula.
    wgs = to_wgs84(*COORDTRANSFORM_INPUT, Crs.GCJ02)
    assert close(from_wgs84(*wgs, Crs.BD09), COORDTRANSFORM_GCJ02_TO_BD09, INVERSE_TOL)


def test_coordtransform_bd09_to_gcj02() -> None:
    wgs = to_wgs84(*COORDTRANSFORM_INPUT, Crs.BD09)
    assert close(from_wgs84(*wgs, Crs.GCJ02), COORDTRANSFORM_BD09_TO_GCJ02, 1e-5)


def test_wgs84_is_identity() -> None:
    assert to_wgs84(108.3, 22.8, Crs.WGS84) == (108.3, 22.8)
    assert from_wgs84(108.3, 22.8, Crs.WGS84) == (108.3, 22.8)


def test_gcj02_offset_at_nanning_matches_data_readme() -> None:
    # Data README: GCJ-02 shifts Nanning by about (+0.0041, -0.0026) degrees.
    lng, lat = from_wgs84(108.31667, 22.81667, Crs.GCJ02)
    assert lng - 108.31667 == pytest.approx(0.0041, abs=3e-4)
    assert lat - 22.81667 == pytest.approx(-0.0026, abs=3e-4)


def test_gcj02_is_identity_outside_china_without_warning() -> None:
    # pyproject turns warnings into errors, so a prcoords warning would fail this test.
    paris = (2.3522, 48.8566)
    assert from_wgs84(*paris, Crs.GCJ02) == paris
    assert to_wgs84(*paris, Crs.GCJ02) == paris
    # Baidu offsets even outside China. The round trip must still close.
    assert close(to_wgs84(*from_wgs84(*paris, Crs.BD09), Crs.BD09), paris, INVERSE_TOL)


def test_crs_accepts_plain_strings() -> None:
    assert to_wgs84(108.3, 22.8, "gcj02") == to_wgs84(108.3, 22.8, Crs.GCJ02)  # type: ignore[arg-type]
    assert Crs("bd09") is Crs.BD09
    with pytest.raises(ValueError):
        to_wgs84(108.3, 22.8, "utm49n")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("lng", "lat"),
    [(math.nan, 22.8), (108.3, math.inf), (-math.inf, 0.0), (180.0001, 0.0), (0.0, -90.5), (-181.0, 10.0)],
)
@pytest.mark.parametrize("crs", list(Crs))
def test_invalid_coordinates_raise(lng: float, lat: float, crs: Crs) -> None:
    with pytest.raises(ValueError):
        to_wgs84(lng, lat, crs)
    with pytest.raises(ValueError):
        from_wgs84(lng, lat, crs)
    with pytest.raises(ValueError):
        check_lnglat(lng, lat)


def test_range_edges_are_valid() -> None:
    for lng, lat in [(-180.0, -90.0), (180.0, 90.0), (0.0, 0.0)]:
        check_lnglat(lng, lat)


# Mainland China, kept inside prcoords' "in China" box (0.83-55.83 N,
# 72.004-137.83 E) by a margin, so that the forward and inverse apply the same
# rule.
china_lng = st.floats(min_value=73.5, max_value=135.0, allow_nan=False)
china_lat = st.floats(min_value=18.0, max_value=53.5, allow_nan=False)
# Keep the tests pure: no example database written to disk.
pure = settings(database=None)


@pure
@given(china_lng, china_lat)
def test_round_trip_gcj02(lng: float, lat: float) -> None:
    back = to_wgs84(*from_wgs84(lng, lat, Crs.GCJ02), Crs.GCJ02)
    assert close(back, (lng, lat), INVERSE_TOL)


@pure
@given(china_lng, china_lat)
def test_round_trip_bd09(lng: float, lat: float) -> None:
    back = to_wgs84(*from_wgs84(lng, lat, Crs.BD09), Crs.BD09)
    assert close(back, (lng, lat), INVERSE_TOL)


@pure
@given(china_lng, china_lat)
def test_offsets_are_hundreds_of_metres(lng: float, lat: float) -> None:
    # GCJ-02 moves points by at most about 700 m, and BD-09 adds about 1 km
    # more. Anything far outside this range means the axes got swapped
    # somewhere.
    for crs, limit_deg in ((Crs.GCJ02, 0.012), (Crs.BD09, 0.025)):
        x, y = from_wgs84(lng, lat, crs)
        assert abs(x - lng) < limit_deg and abs(y - lat) < limit_deg
