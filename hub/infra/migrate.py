"""Apply the numbered SQL files of `migrations/` with yoyo-migrations (each once, recorded, in order)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import psycopg
from yoyo import get_backend, read_migrations

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"


def _yoyo_uri(database_url: str) -> str:
    # yoyo picks the driver from the scheme; psycopg 3 is the maintained DB-API driver.
    parts = urlsplit(database_url)
    return parts._replace(scheme="postgresql+psycopg").geturl()


def apply_migrations(database_url: str) -> list[str]:
    """Apply pending migrations; return the ids applied. Safe to run from several processes at once."""
    backend = get_backend(_yoyo_uri(database_url))
    try:
        migrations = read_migrations(str(MIGRATIONS_DIR))
        with backend.lock():
            pending = backend.to_apply(migrations)
            backend.apply_migrations(pending)
        return [m.id for m in pending]
    finally:
        # yoyo keeps its connection open; a template database must have no sessions to be cloned.
        backend.connection.close()


def is_transient_migration_error(exc: BaseException) -> bool:
    """A migration run that failed because the connection did (the server went away or is starting up), not
    because a migration is wrong: worth retrying."""
    return isinstance(exc, psycopg.OperationalError)
