"""Pure geographic helpers for CityLoop: division codes, datums, jurisdiction layers, routing, address
matching. Import the modules themselves (geo.areas, geo.crs, geo.hierarchy, ...): the package itself
imports nothing, so that code needing only the division-code rules (dispatch/) does not load shapely.
Nothing here does I/O at import time; data files are read only when a router or gazetteer is built.
"""
