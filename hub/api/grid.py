"""Grid worker patrol reports (网格员巡查上报) with photos, and serving those photos back.

- `POST /api/v1/grid/reports` (multipart): text fields + 0..N `photo` parts → a case, idempotent by report_id.
- `POST /api/v1/photos` (multipart): one `photo` stored for a later `progress` action → 201 {"photo_id"}.
- `GET /api/v1/cases/{case_id}/photos/{photo_id}`: the photo, to whoever may see the case.

Photos are stored before the case is committed, so a committed case never names a missing photo; the
store is content-addressed, so the retry after a failed commit rewrites nothing.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from aiohttp import BodyPartReader, MultipartReader, web
from pydantic import BaseModel

from connectors.grid import (
    CheckedPhoto,
    FormError,
    GridReportForm,
    NotAnImage,
    PhotoTooLarge,
    check_photo,
    parse_form,
    resolve_location,
    submission,
)
from dispatch.events import Case
from dispatch.inputs import visible
from dispatch.permissions import ROLES
from hub.api.cases import case_id_of
from hub.api.errors import MALFORMED_BODY, ApiError, json_response
from hub.api.identity import principal_of
from hub.api.schema import Route, errors, inline_defs, json_body
from hub.identity.access import Principal, may_see, sees_confidential_content
from hub.keys import ACTIONS, ADMISSION, CLOCK, INTAKE, LOCATOR, METRICS, PHOTO_STORE, POLICY, SETTINGS
from hub.services.actors import recorded_actor
from hub.services.photos import is_photo_id

log = logging.getLogger(__name__)

REPORTER_ROLES = ("grid_worker", "township_handler", "city_operator", "admin")
# Whoever may post `progress` (with photos) may upload the photo first.
UPLOADER_ROLES = tuple(sorted(ROLES["progress"]))
PHOTO_FIELD = "photo"
# Text fields are short (content ≤ 2,000 characters = ≤ 6 KB of UTF-8); these bound what we buffer.
MAX_TEXT_BYTES = 16 * 1024
MAX_TEXT_FIELDS = 32
_CHUNK = 64 * 1024
# Served photos never change (the id is their hash); only the caller's browser may cache them.
PHOTO_HEADERS = {"Cache-Control": "private, max-age=86400", "X-Content-Type-Options": "nosniff"}


class ReportAccepted(BaseModel):
    case_id: str
    position: int
    duplicate: bool
    photos: list[str]


class PhotoStored(BaseModel):
    photo_id: str


@dataclass(frozen=True, slots=True)
class UploadedFile:
    ordinal: int  # 1-based position among the photo parts, for error messages
    filename: str | None
    data: bytes

    @property
    def label(self) -> str:
        return f"photo {self.ordinal}" + (f' ("{self.filename}")' if self.filename else "")


@dataclass(slots=True)
class Upload:
    fields: dict[str, str] = field(default_factory=dict)
    photos: list[UploadedFile] = field(default_factory=list)


# --- reading the multipart body --------------------------------------------------------------------------


async def read_upload(request: web.Request, max_photos: int, max_bytes: int) -> Upload:
    """Text fields and photo parts, each bounded while it streams in: an oversize part is refused at the
    first byte past the limit, not after it has been buffered."""
    if request.content_type != "multipart/form-data":
        raise ApiError(415, "unsupported_media_type", "send multipart/form-data (text fields and `photo` files)")
    upload = Upload()
    try:
        reader = await request.multipart()
        while (part := await _next_part(reader)) is not None:
            if part.name == PHOTO_FIELD:
                await _read_photo(part, upload, max_photos, max_bytes)
            else:
                await _read_text(part, upload)
    except MALFORMED_BODY as exc:
        raise ApiError(400, "malformed_multipart", f"the multipart body cannot be read: {visible(str(exc))}",
                       [{"field": "body", "message": "not a well-formed multipart/form-data body"}]) from None
    return upload


async def _next_part(reader: MultipartReader) -> BodyPartReader | None:
    part = await reader.next()
    if part is not None and not isinstance(part, BodyPartReader):
        raise ApiError(422, "validation_failed", "nested multipart bodies are not accepted")
    return part


async def _read_bounded(part: BodyPartReader, limit: int) -> bytes | None:
    """The part's bytes, or None as soon as they exceed `limit` (the rest is not read)."""
    buffer = bytearray()
    while chunk := await part.read_chunk(_CHUNK):
        buffer += chunk
        if len(buffer) > limit:
            return None
    return bytes(buffer)


async def _read_photo(part: BodyPartReader, upload: Upload, max_photos: int, max_bytes: int) -> None:
    ordinal = len(upload.photos) + 1
    label = UploadedFile(ordinal, part.filename, b"").label
    if ordinal > max_photos:
        raise ApiError(422, "validation_failed", f"at most {max_photos} photos per report",
                       [{"field": PHOTO_FIELD, "message": f"{label}: at most {max_photos} photos are accepted"}])
    data = await _read_bounded(part, max_bytes)
    if data is None:
        message = f"{label} is larger than {max_bytes:,} bytes"
        raise ApiError(413, "photo_too_large", message, [{"field": PHOTO_FIELD, "message": message}])
    if not data and not part.filename:
        return  # a browser's empty file input: no photo was chosen
    upload.photos.append(UploadedFile(ordinal, part.filename, data))


async def _read_text(part: BodyPartReader, upload: Upload) -> None:
    name = part.name or ""
    if part.filename is not None:
        raise ApiError(422, "validation_failed", f"only `{PHOTO_FIELD}` parts may carry files",
                       [{"field": name or "body", "message": f"a file was sent; files go in `{PHOTO_FIELD}`"}])
    if name in upload.fields:
        raise ApiError(422, "validation_failed", f"{name} was sent more than once",
                       [{"field": name, "message": "sent more than once"}])
    if len(upload.fields) >= MAX_TEXT_FIELDS:
        raise ApiError(413, "too_many_fields", f"at most {MAX_TEXT_FIELDS} form fields are accepted")
    data = await _read_bounded(part, MAX_TEXT_BYTES)
    if data is None:
        message = f"longer than {MAX_TEXT_BYTES:,} bytes"
        raise ApiError(413, "field_too_large", f"{name} is {message}", [{"field": name, "message": message}])
    try:
        upload.fields[name] = data.decode(part.get_charset(default="utf-8"))
    except (UnicodeDecodeError, LookupError):
        raise ApiError(422, "validation_failed", f"{name} is not text in its declared charset (UTF-8 by default)",
                       [{"field": name, "message": "not UTF-8 text"}]) from None


# --- checking photos -------------------------------------------------------------------------------------


async def check_uploads(photos: list[UploadedFile]) -> list[CheckedPhoto]:
    """Decode each photo in a worker thread (CPU-bound), one at a time to bound memory."""
    return [await _check_one(photo) for photo in photos]


async def _check_one(photo: UploadedFile) -> CheckedPhoto:
    try:
        return await asyncio.to_thread(check_photo, photo.data)
    except NotAnImage as exc:
        message = f"{photo.label} is not a JPEG, PNG or WebP image: detected {exc.detected}"
        raise ApiError(415, "unsupported_photo", message, [{"field": PHOTO_FIELD, "message": message}]) from None
    except PhotoTooLarge as exc:
        message = f"{photo.label} is too large: {exc}"
        raise ApiError(413, "photo_too_large", message, [{"field": PHOTO_FIELD, "message": message}]) from None


async def store_photos(app: web.Application, photos: list[CheckedPhoto]) -> list[str]:
    """Store each photo once; the ids in upload order, without repeats."""
    store = app[PHOTO_STORE]
    ids: dict[str, None] = {}
    for photo in photos:
        if photo.photo_id not in ids:
            await store.put(photo.photo_id, photo.data, photo.content_type)
            ids[photo.photo_id] = None
    return list(ids)


# --- handlers --------------------------------------------------------------------------------------------


async def submit_report(request: web.Request) -> web.Response:
    admission = request.app[ADMISSION]
    async with admission.deadline():
        principal = await principal_of(request, *REPORTER_ROLES)
    # Admitted before the photos are read and decoded, the costliest part of a report.
    with admission.slots(1):
        return await _submit_report(request, principal)


async def _submit_report(request: web.Request, principal: Principal) -> web.Response:
    settings = request.app[SETTINGS]
    upload = await read_upload(request, settings.photos_per_report, settings.photo_max_bytes)
    try:
        form = parse_form(upload.fields)
        photos = await check_uploads(upload.photos)
        location = resolve_location(form, photos)
    except FormError as exc:
        raise ApiError(422, "validation_failed", exc.message, exc.fields) from None
    photo_ids = await store_photos(request.app, photos)  # before the case: it must never name a lost photo
    reported_at = request.app[CLOCK].now().isoformat()
    outcome = await request.app[ADMISSION].within(request.app[INTAKE].submit(
        submission(form, photo_ids, principal.name, reported_at, location),
        actor=f"{principal.role}:{principal.name}",  # grid_worker:<name> for the workers themselves
        recorded=recorded_actor(principal, request.app[POLICY].matrix, request.app[LOCATOR].area_chain)))
    duplicate = outcome.result.duplicate
    request.app[METRICS].ingested("grid", duplicate=duplicate)
    answer = ReportAccepted(case_id=str(outcome.case_id), position=outcome.result.first_position,
                            duplicate=duplicate, photos=photo_ids)
    # 202: a new case; 200: this report_id was recorded before — the first answer's case.
    return json_response(answer.model_dump(), status=200 if duplicate else 202)


async def upload_photo(request: web.Request) -> web.Response:
    await principal_of(request, *UPLOADER_ROLES)
    upload = await read_upload(request, 1, request.app[SETTINGS].photo_max_bytes)
    unexpected = sorted(upload.fields)
    if unexpected:
        raise ApiError(422, "validation_failed", "only one `photo` part is accepted",
                       [{"field": name, "message": "not a field of this endpoint"} for name in unexpected])
    if not upload.photos:
        raise ApiError(422, "validation_failed", "no photo was sent",
                       [{"field": PHOTO_FIELD, "message": "required"}])
    photo_ids = await store_photos(request.app, await check_uploads(upload.photos))
    # Stored only: it is served once a case names it (a `progress` action with `photos`).
    return json_response(PhotoStored(photo_id=photo_ids[0]).model_dump(), status=201)


async def get_photo(request: web.Request) -> web.Response:
    """404 alike for a missing case, a case outside the caller's jurisdiction, a photo the case does not name
    and a confidential ticket's photo for someone who may not read its content: a 403 would confirm to a
    stranger that the case exists."""
    principal = await principal_of(request)
    case_id = case_id_of(request)
    photo_id = request.match_info["photo_id"]
    case = await request.app[ACTIONS].load(case_id) if is_photo_id(photo_id) else None
    if case is None or not may_see(principal, case) or not _names_photo(case, photo_id) or (
            (case.get("report") or {}).get("confidential") and not sees_confidential_content(principal, case)):
        raise ApiError(404, "not_found", "no such photo on a case you may see")
    stored = await request.app[PHOTO_STORE].get(photo_id)
    if stored is None:
        log.error("a case names a photo the store does not have", extra={"case": str(case_id), "photo": photo_id})
        raise ApiError(404, "not_found", "the photo is missing from the store")
    data, content_type = stored
    headers = {**PHOTO_HEADERS, "ETag": f'"{photo_id}"'}
    return web.Response(body=data, content_type=content_type, headers=headers)


def _names_photo(case: Case, photo_id: str) -> bool:
    """The report's photos and every progress photo are on the case document."""
    named = [*((case.get("report") or {}).get("photos") or []), *(case.get("progress_photos") or [])]
    return photo_id in named


# --- wiring and OpenAPI ----------------------------------------------------------------------------------


def _multipart(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    schema = {"type": "object", "properties": properties, "required": required}
    return {"required": True, "content": {"multipart/form-data": {"schema": schema}}}


_FORM = inline_defs(GridReportForm.model_json_schema())
_BINARY = {"type": "string", "format": "binary", "description": "JPEG, PNG or WebP, checked by content"}
_BEARER: list[dict[str, list[str]]] = [{"bearer": []}]

# The models the operations below name, for hub.api.openapi's components.
OPENAPI_MODELS: list[type[BaseModel]] = [ReportAccepted, PhotoStored]
ROUTES = [
    Route("POST", "/api/v1/grid/reports", submit_report, {
        "operationId": "submit_grid_report",
        "summary": "a grid worker's patrol report with photos (idempotent by report_id per reporter); "
                   "the position comes from lng/lat, else the first photo's EXIF GPS, else the address",
        "security": _BEARER,
        "requestBody": _multipart({**_FORM["properties"], PHOTO_FIELD: {"type": "array", "items": _BINARY}},
                                  _FORM.get("required", [])),
        "responses": {"202": {"description": "new case", **json_body(ReportAccepted)},
                      "200": {"description": "report_id seen before: the same case", **json_body(ReportAccepted)},
                      **errors(400, 401, 403, 413, 415, 422, 503)}}),
    Route("POST", "/api/v1/photos", upload_photo, {
        "operationId": "upload_photo",
        "summary": "store one photo to name in a later `progress` action; served only once a case names it",
        "security": _BEARER, "requestBody": _multipart({PHOTO_FIELD: _BINARY}, [PHOTO_FIELD]),
        "responses": {"201": {"description": "stored", **json_body(PhotoStored)},
                      **errors(400, 401, 403, 413, 415, 422)}}),
    Route("GET", "/api/v1/cases/{case_id}/photos/{photo_id}", get_photo, {
        "operationId": "get_case_photo",
        "summary": "a photo named by the case; 404 also when the case is outside the caller's jurisdiction",
        "security": _BEARER,
        "parameters": [
            {"name": "case_id", "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}},
            {"name": "photo_id", "in": "path", "required": True,
             "schema": {"type": "string", "pattern": "^[0-9a-f]{64}$"}}],
        "responses": {"200": {"description": "the photo bytes",
                              "content": {t: {"schema": _BINARY} for t in ("image/jpeg", "image/png", "image/webp")}},
                      **errors(401, 404)}}),
]
