"""Commands: what a user or machine asks to happen to a case, one model per action of INTERFACES.md.

`parse_command` turns the JSON body of `POST /api/v1/cases/{id}/actions` into a command; a bad body
raises pydantic's ValidationError, whose errors name each field and say what is wrong with it. The
commands marked internal are issued by the hub itself (follow-ups between linked cases), never parsed.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import ConfigDict, Field

from dispatch.inputs import AreaCode, InputModel, Moment, SubCountyCode

Text = Annotated[str, Field(min_length=1, max_length=2000)]


class Command(InputModel):
    """Every string of a command refuses control characters (InputModel), whatever the field."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)
    action: ClassVar[str]


class Dispatch(Command):
    """派单 / 改派: send the case to a unit. `areas` (level → {code, name}) lets the hub pass the names of
    the chosen area's levels from its gazetteer; without it the domain reuses the case's own areas."""

    action: ClassVar[str] = "dispatch"
    area: AreaCode | None = None  # needed with `unit`; with only `category`, the case's own areas
    unit: str | None = Field(default=None, min_length=1, max_length=64)
    unit_name: str | None = Field(default=None, max_length=100)
    areas: dict[str, dict[str, str]] | None = None
    # 研判: the category the dispatcher chose (a leaf's code or channel name). Without `unit` the matrix picks
    # the units for it, as at intake; the choice is recorded, and the hub learns the hotline's wording from it.
    category: str | None = Field(default=None, min_length=1, max_length=64)


class Accept(Command):
    action: ClassVar[str] = "accept"  # 签收


class Return(Command):
    action: ClassVar[str] = "return"  # 退回
    reason: Literal["not_our_remit", "wrong_area", "unclear_ownership"]  # 职能不符 / 属地不符 / 权属不清
    note: Text


class ReviewReturn(Command):
    action: ClassVar[str] = "review_return"  # 退单审核
    approve: bool
    unit: str | None = Field(default=None, min_length=1, max_length=64)  # the reviewer's choice on approval
    unit_name: str | None = Field(default=None, max_length=100)


class RequestExtension(Command):
    action: ClassVar[str] = "request_extension"  # 延期申请
    until: Moment
    reason: Text


class ReviewExtension(Command):
    action: ClassVar[str] = "review_extension"
    approve: bool


class Progress(Command):
    action: ClassVar[str] = "progress"
    note: Text
    # Photo ids from POST /api/v1/photos (the sha256 of the image), never file names or URLs.
    photos: tuple[Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")], ...] = Field(default=(), max_length=9)


class PushDown(Command):
    action: ClassVar[str] = "push_down"  # 下派 a sub-task to a community or grid
    area: SubCountyCode
    unit: str = Field(min_length=1, max_length=64)


class Resolve(Command):
    action: ClassVar[str] = "resolve"  # 办结反馈
    note: Text


class Callback(Command):
    action: ClassVar[str] = "callback"  # 回访 (hotline) or 核查 (grid worker)
    contacted: bool  # the unit contacted the citizen (响应)
    solved: bool
    satisfaction: Literal["satisfied", "basically_satisfied", "dissatisfied", "unreachable"]


class Supervise(Command):
    action: ClassVar[str] = "supervise"  # 督办
    note: Text


class Escalate(Command):
    action: ClassVar[str] = "escalate"


class Merge(Command):
    action: ClassVar[str] = "merge"
    into: str = Field(min_length=1, max_length=64)


class Split(Command):
    action: ClassVar[str] = "split"


class Park(Command):
    action: ClassVar[str] = "park"  # 挂账
    note: Text


class Reopen(Command):
    action: ClassVar[str] = "reopen"


class Reject(Command):
    action: ClassVar[str] = "reject"
    reason: Text


class Comment(Command):
    action: ClassVar[str] = "comment"
    note: Text


# --- internal: follow-ups between linked cases, issued by the hub as the `system` actor -------------

class AttachChild(Command):
    action: ClassVar[str] = "attach_child"
    child: str


class DetachChild(Command):
    action: ClassVar[str] = "detach_child"
    child: str


class FollowParent(Command):
    action: ClassVar[str] = "follow_parent"
    parent: str
    state: str


PUBLIC_COMMANDS: dict[str, type[Command]] = {c.action: c for c in (
    Dispatch, Accept, Return, ReviewReturn, RequestExtension, ReviewExtension, Progress, PushDown, Resolve,
    Callback, Supervise, Escalate, Merge, Split, Park, Reopen, Reject, Comment,
)}
INTERNAL_COMMANDS: dict[str, type[Command]] = {c.action: c for c in (AttachChild, DetachChild, FollowParent)}
ACTIONS = tuple(PUBLIC_COMMANDS)
# Envelope fields of the actions endpoint that are not the command's own.
_ENVELOPE = frozenset({"action", "expected_version"})


def parse_command(action: str, fields: dict[str, Any]) -> Command:
    """The command for `action` with `fields`. Raises ValueError for an unknown action and pydantic's
    ValidationError (a ValueError too) naming every bad or unexpected field."""
    model = PUBLIC_COMMANDS.get(action)
    if model is None:
        raise ValueError(f"action: unknown action {action!r}; expected one of {', '.join(ACTIONS)}")
    return model.model_validate({k: v for k, v in fields.items() if k not in _ENVELOPE})
