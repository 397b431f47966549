"""What input from outside may hold: text the database can store, division codes in their format, ids and
dates within the ranges PostgreSQL and the calendar arithmetic can handle.

Every model of input — request bodies, forms, query strings, commands, device messages — derives from
`InputModel`, whose one validator looks at every string of every field (inside lists and dicts too), so a
field added tomorrow cannot forget the check. Why it matters: PostgreSQL text cannot hold NUL at all
(asyncpg raises CharacterNotInRepertoireError, jsonb refuses \\u0000), so a NUL that passes validation
is a 500 at the first query; and no ticket, note or name means a form feed or an escape character.

Pure: pydantic types and functions, importable by dispatch/, connectors/ and hub/.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Annotated, Any, Final

from pydantic import AfterValidator, AwareDatetime, BaseModel, Field, field_validator
from pydantic_core import PydanticCustomError

from geo.areas import code_pattern

# C0 control characters except tab, line feed and carriage return, which text may carry; and unpaired
# surrogates, which no UTF-8 encoder (hence no database driver) accepts.
_REFUSED: Final = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff]")


def text_problem(value: str) -> str | None:
    """Why `value` cannot be accepted as text, or None when it can."""
    match = _REFUSED.search(value)
    if match is None:
        return None
    char = match.group()
    what = "an unpaired surrogate" if "\ud800" <= char <= "\udfff" else "a control character"
    return (f"contains {what} (U+{ord(char):04X}) at position {match.start()}; text may hold no control "
            "characters but tab, line feed and carriage return")


def check_text(value: str) -> str:
    """`value` unchanged, or an error saying which character is refused and where."""
    problem = text_problem(value)
    if problem is not None:
        raise PydanticCustomError("control_character", "{problem}", {"problem": problem})
    return value


def find_text_problem(value: Any) -> str | None:
    """The first refused string anywhere in `value` — a string, or one inside lists, tuples, sets, dict keys
    and values, or models — with the path to it (`[2]`, `.name`), or None."""
    # Every field of every request runs through here: the walk that builds paths runs only when there is
    # something to report (it cost ~100 µs per hotline ticket when it ran for every field).
    return _problem_in(value, "") if _refused_in(value) else None


def _refused_in(value: Any) -> bool:
    if isinstance(value, str):
        return _REFUSED.search(value) is not None
    if isinstance(value, InputModel):
        return False  # checked field by field by its own validator when it was built
    if isinstance(value, BaseModel):
        value = dict(value)
    if isinstance(value, Mapping):
        return any(_refused_in(key) or _refused_in(item) for key, item in value.items())
    if isinstance(value, list | tuple | set | frozenset):
        return any(_refused_in(item) for item in value)
    return False


def _problem_in(value: Any, path: str) -> str | None:
    if isinstance(value, str):
        problem = text_problem(value)
        return f"{path.lstrip('.')} {problem}" if problem is not None and path else problem
    if isinstance(value, BaseModel):
        value = dict(value)
    if isinstance(value, Mapping):
        for key, item in value.items():
            name = f"{path}.{visible(str(key))}"
            found = _problem_in(key, f"{name} (the key)") or _problem_in(item, name)
            if found is not None:
                return found
    elif isinstance(value, list | tuple | set | frozenset):
        for index, item in enumerate(value):
            found = _problem_in(item, f"{path}[{index}]")
            if found is not None:
                return found
    return None


def visible(text: str) -> str:
    """`text` with refused characters written as escapes (\\x00), for messages and logs that echo input."""
    return _REFUSED.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100 else f"\\u{ord(m.group()):04x}",
                        text)


class InputModel(BaseModel):
    """The base of every model of input from outside: no string in it holds a refused character.

    The error names the field (pydantic's loc) and, for a string inside a list or dict, where in it."""

    @field_validator("*")
    @classmethod
    def _storable_text(cls, value: Any) -> Any:
        problem = find_text_problem(value)
        if problem is not None:
            # The problem is the context, not the template: input may contain braces.
            raise PydanticCustomError("control_character", "{problem}", {"problem": problem})
        return value


# A plain string that refuses control characters, for values validated outside a model (path parameters).
Text = Annotated[str, AfterValidator(check_text)]

# Division codes by their format (geo.areas): 6 (county and above), 9 (township), 12 (community) or 15
# (grid) ASCII digits. `0398166` (7 digits) is not a code, whatever its prefix.
AreaCode = Annotated[str, Field(pattern=code_pattern())]
# Township and below: what a county-level operator pushes a task down to.
SubCountyCode = Annotated[str, Field(pattern=code_pattern((9, 12, 15)))]

# Ids, cursors and offsets compared with PostgreSQL bigint columns.
MAX_BIGINT: Final = 2**63 - 1
BigintId = Annotated[int, Field(ge=0, le=MAX_BIGINT)]

# The dates the hub works with. Far wider than any real case, and far inside what PostgreSQL and Python's
# date arithmetic can hold (`to=0001-01-01` minus a year is an OverflowError).
EARLIEST: Final = date(2000, 1, 1)
LATEST: Final = date(2100, 1, 1)
_EARLIEST_MOMENT: Final = datetime(EARLIEST.year, EARLIEST.month, EARLIEST.day, tzinfo=UTC)
_LATEST_MOMENT: Final = datetime(LATEST.year, LATEST.month, LATEST.day, tzinfo=UTC)
RANGE_TEXT: Final = f"between {EARLIEST.isoformat()} and {LATEST.isoformat()}"

HubDate = Annotated[date, Field(ge=EARLIEST, le=LATEST)]


def check_moment(value: datetime) -> datetime:
    """A date-time within the hub's range (naive ones are compared as UTC), or ValueError."""
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    if not _EARLIEST_MOMENT <= aware <= _LATEST_MOMENT:
        raise ValueError(f"must be {RANGE_TEXT}")
    return value


# A date-time with its zone (a moment), within the hub's range.
Moment = Annotated[AwareDatetime, AfterValidator(check_moment)]
