"""Who must act when nothing more specific does: the 属地兜底 fallback of PRODUCT.md section 4, the
government of the deepest known township, else of the county. The configurable matrix
(`dispatch.matrix`, category x area → units) sits in front of this fallback."""

from __future__ import annotations

from dataclasses import dataclass

FALLBACK_LEVELS = ("township", "county")


@dataclass(frozen=True, slots=True)
class Unit:
    code: str
    name: str
    level: str | None = None  # city | county | township | community | grid; None: read it from the code

    def as_json(self) -> dict[str, str]:
        out = {"code": self.code, "name": self.name}
        if self.level is not None:
            out["level"] = self.level
        return out


def responsible_unit(areas: dict[str, dict[str, str]]) -> tuple[Unit, str]:
    """The lead unit and the rule that chose it. Raises ValueError when no township or county is known."""
    for level in FALLBACK_LEVELS:
        area = areas.get(level)
        if area is not None:
            unit = Unit(f"{area['code']}-gov", f"{area['name']}人民政府")
            return unit, f"fallback:{level}_government"  # 属地兜底
    raise ValueError("no township or county to fall back to")
