"""dispatch.inputs: the validated types every model of input is built from, and the rule that every such
model uses them."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from dispatch.inputs import (
    MAX_BIGINT,
    AreaCode,
    BigintId,
    HubDate,
    InputModel,
    Moment,
    SubCountyCode,
    Text,
    find_text_problem,
    text_problem,
    visible,
)


class Note(InputModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    title: str = ""
    tags: list[str] = []
    areas: dict[str, dict[str, str]] | None = None


class Inner(InputModel):
    name: str


class Outer(InputModel):
    inner: Inner
    raw: list[Any] = []


def errors(model: type[BaseModel], data: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(data)
    return [(".".join(str(p) for p in e["loc"]), e["msg"]) for e in caught.value.errors(include_url=False)]


@pytest.mark.parametrize("char", ["\x00", "\x01", "\x08", "\x0b", "\x0c", "\x0e", "\x1b", "\x1f", "\ud800", "\udfff"])
def test_control_characters_and_lone_surrogates_are_refused_with_where_they_are(char: str) -> None:
    problem = text_problem(f"路灯{char}不亮")
    assert problem is not None and f"U+{ord(char):04X}" in problem and "position 2" in problem


@pytest.mark.parametrize("text", ["", "路灯不亮", "line\nline\r\nnext\ttab", "emoji 🚧 and \x7f and \u200b", "{x}"])
def test_what_text_may_hold_is_accepted(text: str) -> None:
    assert text_problem(text) is None
    assert Note.model_validate({"title": text}).title == text.strip()


def test_a_model_names_the_field_and_the_place_inside_it() -> None:
    assert errors(Note, {"title": "a\x00b"})[0][0] == "title"
    [(field, message)] = errors(Note, {"tags": ["ok", "b\x01"]})
    assert field == "tags" and message.startswith("[1] contains a control character (U+0001)")
    [(field, message)] = errors(Note, {"areas": {"county": {"name": "青秀\x1b区"}}})
    assert field == "areas" and message.startswith("county.name contains")
    [(field, message)] = errors(Note, {"areas": {"county": {"na\x00me": "青秀区"}}})
    assert field == "areas" and message.startswith("county.na\\x00me (the key) contains")
    # Nested models and raw JSON values are checked too; braces in input do not break the message.
    assert errors(Outer, {"inner": {"name": "\x00"}})[0][0] == "inner.name"
    [(field, message)] = errors(Outer, {"inner": {"name": "ok"}, "raw": [{"{k}": ["\x02"]}]})
    assert field == "raw" and message.startswith("[0].{k}[0] contains")


def test_a_subclass_field_added_later_is_checked_without_anything_written_for_it() -> None:
    class Later(Note):
        added: str = ""

    assert errors(Later, {"added": "\x00"})[0][0] == "added"


def test_text_type_and_helpers() -> None:
    adapter = TypeAdapter(Text)
    assert adapter.validate_python("井盖") == "井盖"
    with pytest.raises(ValidationError):
        adapter.validate_python("井\x00盖")
    assert find_text_problem({"a": [("ok", "\x00")]}) is not None
    assert find_text_problem({"a": [("ok", 1, None, 2.5)]}) is None
    assert visible("a\x00b\x1b\ud800") == "a\\x00b\\x1b\\ud800"


@given(st.text())
def test_a_string_is_refused_exactly_when_it_holds_a_refused_character(text: str) -> None:
    refused = any(ord(c) < 0x20 and c not in "\t\n\r" or 0xD800 <= ord(c) <= 0xDFFF for c in text)
    assert (text_problem(text) is not None) == refused


@pytest.mark.parametrize(("code", "ok"), [
    ("450103", True), ("450103001", True), ("450103001001", True), ("450103001001001", True),
    ("0398166", False), ("45010", False), ("4501030010", False), ("450103001001001001", False),
    ("４５０１００", False), ("45010a", False), ("", False), ("450100\n", False),
])
def test_area_codes_are_6_9_12_or_15_ascii_digits(code: str, ok: bool) -> None:
    adapter = TypeAdapter(AreaCode)
    if ok:
        assert adapter.validate_python(code) == code
    else:
        with pytest.raises(ValidationError):
            adapter.validate_python(code)
    below = TypeAdapter(SubCountyCode)
    with pytest.raises(ValidationError):
        below.validate_python("450103")
    assert below.validate_python("450103001") == "450103001"


def test_ids_dates_and_moments_stay_within_what_the_database_holds() -> None:
    ids = TypeAdapter(BigintId)
    assert ids.validate_python(MAX_BIGINT) == 2**63 - 1 and ids.validate_python("0") == 0
    for bad in (2**63, -1, "1" * 20):
        with pytest.raises(ValidationError):
            ids.validate_python(bad)
    days = TypeAdapter(HubDate)
    assert days.validate_python("2000-01-01") == date(2000, 1, 1)
    assert days.validate_python("2100-01-01") == date(2100, 1, 1)
    for bad_day in ("0001-01-01", "1999-12-31", "2100-01-02", "9999-12-31"):
        with pytest.raises(ValidationError):
            days.validate_python(bad_day)
    moments = TypeAdapter(Moment)
    assert moments.validate_python("2026-11-22T08:00:00+08:00") == datetime(2026, 11, 22, tzinfo=UTC)
    for bad_moment in ("0001-01-01T00:00:00+08:00", "1970-01-01T00:00:00Z", "9999-12-31T23:59:59-12:00"):
        with pytest.raises(ValidationError):
            moments.validate_python(bad_moment)
    with pytest.raises(ValidationError):
        moments.validate_python("2026-11-22T08:00:00")  # a moment needs its zone
    east = timezone(timedelta(hours=14))
    assert moments.validate_python(datetime(2000, 1, 1, 14, tzinfo=east)) is not None  # 2000-01-01T00:00Z


# Models that describe answers or configuration, never input from outside.
NOT_INPUT = {
    "hub.api.grid.ReportAccepted", "hub.api.grid.PhotoStored", "hub.api.hotline.TicketAccepted",
    "hub.api.identity.LoginResponse", "hub.api.schema.Error", "hub.api.schema.ErrorBody",
    "hub.api.schema.ErrorField",
    # The service definition we publish, not what a client sends.
    "connectors.open311.Attribute",
    # Its tickets are raw on purpose: each is validated as a HotlineTicket (an InputModel) on its own, so one
    # bad ticket fails alone instead of failing the batch.
    "hub.api.hotline.TicketBatch",
}
INPUT_MODULES = ("hub.api.", "connectors.", "dispatch.commands")


def _models(cls: type[BaseModel]) -> list[type[BaseModel]]:
    return [sub for direct in cls.__subclasses__() for sub in (direct, *_models(direct))]


def test_every_model_of_input_is_an_input_model() -> None:
    """A new request, query or message model that is a plain BaseModel fails here: derive it from
    InputModel (or, if it is an answer, add it to NOT_INPUT)."""
    import hub.app  # noqa: F401 — registers every API module's models

    found = {f"{m.__module__}.{m.__qualname__}": m for m in _models(BaseModel)
             if m.__module__.startswith(INPUT_MODULES)}
    assert "hub.api.kpis.KpiQuery" in found and "dispatch.commands.Comment" in found
    plain = sorted(name for name, m in found.items() if not issubclass(m, InputModel) and name not in NOT_INPUT)
    assert plain == []
