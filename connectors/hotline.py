"""12345 hotline tickets (工单): validation of the pushed JSON and its translation into an intake.

The model is the contract of INTERFACES.md; its JSON schema goes into /openapi.json as is.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Self

from pydantic import AnyHttpUrl, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from connectors.submission import Submission
from dispatch.inputs import InputModel, Moment
from geo.crs import Crs, check_lnglat, to_wgs84


class TicketType(StrEnum):
    consult = "consult"
    help = "help"
    complaint = "complaint"
    report = "report"
    suggestion = "suggestion"
    praise = "praise"
    other = "other"


class Urgency(StrEnum):
    normal = "normal"
    urgent = "urgent"
    critical = "critical"
    complex = "complex"


def point_problem(lng: float, lat: float, crs: Crs) -> str | None:
    """Why (lng, lat) in `crs` is no place on Earth, or None. In range is not enough: Baidu's offset moves a
    BD-09 point at a pole or the antimeridian off the globe once converted to WGS84."""
    try:
        check_lnglat(*to_wgs84(lng, lat, crs))
    except ValueError:
        return f"({lng}, {lat}) in {crs.value} has no WGS84 equivalent (too close to a pole or the antimeridian)"
    return None


def crs_on_earth(crs: Crs, info: ValidationInfo) -> Crs:
    """A field validator for a model's `crs`, declared after its `lng` and `lat`: the error lands on `crs`,
    since in WGS84 every in-range point is on Earth."""
    lng, lat = info.data.get("lng"), info.data.get("lat")
    problem = None if lng is None or lat is None else point_problem(lng, lat, crs)
    if problem is not None:
        raise ValueError(problem)
    return crs


class Location(InputModel):
    model_config = ConfigDict(extra="forbid")
    lng: float = Field(ge=-180, le=180, allow_inf_nan=False)
    lat: float = Field(ge=-90, le=90, allow_inf_nan=False)
    crs: Crs = Crs.WGS84

    _on_earth = field_validator("crs")(crs_on_earth)


class Reporter(InputModel):
    model_config = ConfigDict(extra="forbid")
    name: Annotated[str, Field(max_length=64)] | None = None
    phone: Annotated[str, Field(max_length=32, pattern=r"^\+?[0-9][0-9 \-]{4,30}$")] | None = None


NonEmpty = Annotated[str, Field(min_length=1)]


class PlaceFields(InputModel):
    """Where a report says the problem is: a point, an address text, or both."""

    location: Location | None = None
    address: Annotated[str, Field(min_length=1, max_length=500)] | None = None


class Place(PlaceFields):
    """A point, an address text, or both — at least one: a routing question has nothing else to go on."""

    @model_validator(mode="after")
    def _location_or_address(self) -> Self:
        if self.location is None and self.address is None:
            raise ValueError("give `location` or `address` (or both)")
        return self


class HotlineTicket(PlaceFields):
    """One ticket as the 12345 system records it. Unknown fields are refused so typos do not vanish.

    `location` and `address` are both optional: a ticket with neither is placed from its (required) `content`
    when that names a place (我在双义村这边，道路积水), and goes to triage (`no_location`) when it does not."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    ticket_no: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[\w\-.:/]+$")]
    type: TicketType
    category: Annotated[str, Field(min_length=1, max_length=64)]
    content: Annotated[str, Field(min_length=1, max_length=10_000, description=(
        "The complaint in the caller's words. Required; with neither `location` nor `address` the place is "
        "read from it (a village, community, township or county it names), else the case goes to triage."))]
    reported_at: Moment
    title: Annotated[str, Field(max_length=200)] | None = None
    channel: Annotated[str, Field(max_length=32)] | None = None
    urgency: Urgency = Urgency.normal
    reporter: Reporter | None = None
    confidential: bool = False
    attachments: list[Annotated[str, Field(max_length=2_000)]] = Field(default_factory=list, max_length=20)
    callback_url: AnyHttpUrl | None = Field(default=None, description=(
        "Where status callbacks for this ticket go (else CITYLOOP_HOTLINE_CALLBACK_URL). Its origin (scheme, "
        "host, port) must be registered for the pushing key (`cityloop keys add --callback-origin`) or in "
        "CITYLOOP_CALLBACK_ALLOWED_ORIGINS, else 422 naming callback_url; the path is free."))

    def submission(self) -> Submission:
        point = (self.location.lng, self.location.lat, self.location.crs) if self.location else None
        return Submission("hotline", self.report(), self.idempotency_key(), point, self.address, self.content)

    def idempotency_key(self) -> str:
        return f"hotline:{self.ticket_no}"

    def report(self) -> dict[str, Any]:
        """The fields kept on the case (everything but the location, which is stored converted)."""
        data = self.model_dump(mode="json", exclude={"location"}, exclude_none=True)
        data["reported_at"] = _iso(self.reported_at)
        return data


def _iso(value: datetime) -> str:
    return value.isoformat()
