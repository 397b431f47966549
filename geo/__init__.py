"""Pure geographic helpers for CityLoop: datums, division codes, county routing.

Importing the package does no I/O. Data is read only when a router is built,
e.g. with ``CountyRouter.nanning()``.
"""

from geo.areas import NANNING, Area, code_prefix, code_within
from geo.crs import Crs, check_lnglat, from_wgs84, to_wgs84
from geo.router import CountyRouter, Placement

__all__ = [
    "NANNING",
    "Area",
    "CountyRouter",
    "Crs",
    "Placement",
    "check_lnglat",
    "code_prefix",
    "code_within",
    "from_wgs84",
    "to_wgs84",
]
