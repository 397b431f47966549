"""Placeholder: filled in by the grid channel work (issue 5)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

# OpenAPI path items of this module's /api routes, merged into /openapi.json by hub.openapi.
OPENAPI_PATHS: dict[str, Any] = {}


def add_routes(app: web.Application) -> None:
    """Register this channel's routes on the hub."""
