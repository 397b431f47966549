"""12345 hotline tickets (工单): validation of the pushed JSON and its translation into an intake.

The model is the contract of INTERFACES.md; its JSON schema goes into /openapi.json as is.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AnyHttpUrl, ConfigDict, Field, model_validator

from dispatch.inputs import InputModel, Moment
from geo.crs import Crs


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


class Location(InputModel):
    model_config = ConfigDict(extra="forbid")
    lng: float = Field(ge=-180, le=180, allow_inf_nan=False)
    lat: float = Field(ge=-90, le=90, allow_inf_nan=False)
    crs: Crs = Crs.WGS84


class Reporter(InputModel):
    model_config = ConfigDict(extra="forbid")
    name: Annotated[str, Field(max_length=64)] | None = None
    phone: Annotated[str, Field(max_length=32, pattern=r"^\+?[0-9][0-9 \-]{4,30}$")] | None = None


NonEmpty = Annotated[str, Field(min_length=1)]


class HotlineTicket(InputModel):
    """One ticket as the 12345 system records it. Unknown fields are refused so typos do not vanish."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    ticket_no: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[\w\-.:/]+$")]
    type: TicketType
    category: Annotated[str, Field(min_length=1, max_length=64)]
    content: Annotated[str, Field(min_length=1, max_length=10_000)]
    reported_at: Moment
    location: Location | None = None
    address: Annotated[str, Field(min_length=1, max_length=500)] | None = None
    title: Annotated[str, Field(max_length=200)] | None = None
    channel: Annotated[str, Field(max_length=32)] | None = None
    urgency: Urgency = Urgency.normal
    reporter: Reporter | None = None
    confidential: bool = False
    attachments: list[Annotated[str, Field(max_length=2_000)]] = Field(default_factory=list, max_length=20)
    callback_url: AnyHttpUrl | None = None

    @model_validator(mode="after")
    def _location_or_address(self) -> HotlineTicket:
        if self.location is None and self.address is None:
            raise ValueError("a ticket needs `location` or `address` (or both)")
        return self

    def idempotency_key(self) -> str:
        return f"hotline:{self.ticket_no}"

    def report(self) -> dict[str, Any]:
        """The fields kept on the case (everything but the location, which is stored converted)."""
        data = self.model_dump(mode="json", exclude={"location"}, exclude_none=True)
        data["reported_at"] = _iso(self.reported_at)
        return data


def _iso(value: datetime) -> str:
    return value.isoformat()
