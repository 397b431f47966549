"""Reading boundary files (GeoJSON, GeoPackage, Shapefile) through geopandas into area shapes."""

from __future__ import annotations

import warnings
from pathlib import Path

from geo.areas import short_forms
from geo.features import AreaShape
from geo.validate import CODE_LENGTHS

CODE_FIELDS = ("code", "adcode", "code15", "code12", "code9", "gb")
NAME_FIELDS = ("name", "NAME", "名称")
PARENT_FIELDS = ("parent_code", "parent", "township_code9", "county_adcode")


class BoundaryFileError(ValueError):
    pass


def _parent_from_code(code: str, level: str) -> str | None:
    # National codes nest by prefix: the parent is the code cut to the level above.
    return {"county": code[:4] + "00", "township": code[:6], "community": code[:9], "grid": code[:12]}.get(level)


def read_boundary_file(path: Path, level: str, *, code_field: str | None = None, name_field: str | None = None,
                       parent_field: str | None = None) -> list[AreaShape]:
    import geopandas

    if level not in CODE_LENGTHS:
        raise BoundaryFileError(f"--level must be one of {', '.join(CODE_LENGTHS)}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pyogrio warns about harmless driver details
        frame = geopandas.read_file(path)
    if frame.crs is None:
        raise BoundaryFileError(f"{path}: no coordinate reference system; expected WGS84/CGCS2000 lon/lat")
    if frame.crs.to_epsg() not in (4326, 4490):
        frame = frame.to_crs(4326)  # pyproj does the CRS maths (CGCS2000 ≈ WGS84 to ~1 m)
    code_col = code_field or next((c for c in CODE_FIELDS if c in frame.columns), None)
    name_col = name_field or next((c for c in NAME_FIELDS if c in frame.columns), None)
    if code_col is None or code_col not in frame.columns:
        raise BoundaryFileError(f"{path}: no code column (tried {', '.join(CODE_FIELDS)}); use --code-field")
    if name_col is None or name_col not in frame.columns:
        raise BoundaryFileError(f"{path}: no name column (tried {', '.join(NAME_FIELDS)}); use --name-field")
    parent_col = parent_field or next((c for c in PARENT_FIELDS if c in frame.columns), None)
    shapes = []
    for row in frame.itertuples(index=False):
        code = str(getattr(row, code_col)).strip()
        if code_col == "gb" and code.startswith("156"):
            code = code[3:]
        name = str(getattr(row, name_col)).strip()
        parent = str(getattr(row, parent_col)).strip() if parent_col else _parent_from_code(code, level)
        shapes.append(AreaShape(code=code, name=name, level=level, parent_code=parent,
                                short_names=short_forms(name, level), geometry=row.geometry, synthetic=False))
    return shapes
