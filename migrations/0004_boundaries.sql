-- Boundary versions (MapIt calls them generations): a file is loaded as a new inactive version of one
-- level and switched on atomically. Cases keep the areas they were routed with (in their events).
CREATE TABLE boundary_versions (
    id          integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    level       text        NOT NULL CHECK (level IN ('city', 'county', 'township', 'community', 'grid')),
    source      text        NOT NULL,
    synthetic   boolean     NOT NULL DEFAULT false,
    metadata    jsonb       NOT NULL DEFAULT '{}'::jsonb,
    loaded_at   timestamptz NOT NULL DEFAULT now(),
    activated_at timestamptz,
    active      boolean     NOT NULL DEFAULT false
);
-- At most one active version per level.
CREATE UNIQUE INDEX boundary_versions_one_active ON boundary_versions (level) WHERE active;

CREATE TABLE areas (
    version_id  integer NOT NULL REFERENCES boundary_versions (id),
    code        text    NOT NULL,
    name        text    NOT NULL,
    level       text    NOT NULL,
    parent_code text,
    short_names text[]  NOT NULL DEFAULT '{}',
    geometry    bytea   NOT NULL,  -- WKB, WGS84/CGCS2000 lon/lat (no PostGIS needed; shapely does geometry)
    properties  jsonb   NOT NULL DEFAULT '{}'::jsonb,
    PRIMARY KEY (version_id, code)
);
CREATE INDEX areas_parent ON areas (version_id, parent_code);
