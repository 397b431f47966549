"""Photo storage: content-addressed (the id is the sha256 of the bytes), pluggable behind `PhotoStore`.

Content addressing makes every write idempotent: a retried upload, or the same photo on two reports, lands
on the same name with the same bytes. The local store keeps one file per photo, the content type in its
suffix, so that a single atomic rename publishes both together; there is no second file to get out of step.
"""

from __future__ import annotations

import asyncio
import os
import re
import tempfile
from pathlib import Path
from typing import Protocol

# The content types the hub accepts (connectors.grid checks the bytes) and the suffix each is stored under.
SUFFIXES: dict[str, str] = {"image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp"}
_PHOTO_ID = re.compile(r"^[0-9a-f]{64}$")


def is_photo_id(value: str) -> bool:
    """A lowercase sha256 hex digest. Checked before any path is built from it: no `../` ever reaches disk."""
    return bool(_PHOTO_ID.match(value))


class PhotoStore(Protocol):
    async def put(self, photo_id: str, data: bytes, content_type: str) -> None:
        """Store durably before returning (the case that names the photo is committed next)."""

    async def get(self, photo_id: str) -> tuple[bytes, str] | None:
        """The bytes and content type, or None when no such photo is stored."""

    async def exists(self, photo_id: str) -> bool:
        """Whether the photo is stored (an action may only name uploaded photos)."""


class LocalPhotoStore:
    """Photos under `root/ab/cd/<sha256><suffix>`: two levels of fan-out keep directories small
    (65,536 buckets; a million photos is ~15 per directory)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path_for(self, photo_id: str, content_type: str) -> Path:
        return self._dir(photo_id) / (photo_id + _suffix(content_type))

    async def put(self, photo_id: str, data: bytes, content_type: str) -> None:
        target = self.path_for(photo_id, content_type)  # validates both before touching the disk
        await asyncio.to_thread(_write_atomically, target, data)

    async def get(self, photo_id: str) -> tuple[bytes, str] | None:
        if not is_photo_id(photo_id):
            return None
        return await asyncio.to_thread(self._read, photo_id)

    async def exists(self, photo_id: str) -> bool:
        if not is_photo_id(photo_id):
            return False
        folder = self._dir(photo_id)
        return await asyncio.to_thread(lambda: any((folder / (photo_id + sfx)).is_file() for sfx in SUFFIXES.values()))

    def _dir(self, photo_id: str) -> Path:
        if not is_photo_id(photo_id):
            raise ValueError(f"not a photo id (sha256 hex): {photo_id!r}")
        return self.root / photo_id[:2] / photo_id[2:4]

    def _read(self, photo_id: str) -> tuple[bytes, str] | None:
        folder = self._dir(photo_id)
        for content_type, suffix in SUFFIXES.items():
            try:
                return (folder / (photo_id + suffix)).read_bytes(), content_type
            except FileNotFoundError:
                continue
        return None


def _suffix(content_type: str) -> str:
    try:
        return SUFFIXES[content_type]
    except KeyError:
        raise ValueError(f"the photo store keeps {', '.join(SUFFIXES)}, not {content_type!r}") from None


def _write_atomically(target: Path, data: bytes) -> None:
    """Write to a temporary file in the same directory, fsync, rename over the target, fsync the directory:
    a reader sees the whole photo or none, and after a crash the photo is there if put() returned."""
    if target.exists():
        return  # same name = same sha256 = same bytes: a retry has nothing to do
    if not target.parent.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        # New fan-out directories are entries in their parents: make those durable too.
        _fsync_dir(target.parent.parent)
        _fsync_dir(target.parent.parent.parent)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=".incoming-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as tmp:
            tmp.write(data)
            tmp.flush()
            os.fsync(tmp.fileno())
        os.replace(tmp_name, target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    _fsync_dir(target.parent)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
