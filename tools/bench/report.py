"""How the bench prints: detail lines as each scenario runs, and at the end the issue's table — each row
with the measured value, its target, met or not, and the ratio to a baseline measured in the same run."""

from __future__ import annotations

from dataclasses import dataclass


def line(label: str, value: float, unit: str, baseline: tuple[str, float] | None = None) -> None:
    """A figure, and its ratio to a baseline when there is one (the store and routing figures)."""
    ratio = f"   {value / baseline[1]:6.2f}x {baseline[0]}" if baseline and baseline[1] else ""
    print(f"  {label:<46} {value:>12,.0f} {unit}{ratio}", flush=True)


def note(label: str, text: str) -> None:
    print(f"  {label:<46} {text}", flush=True)


def cpu_per_ticket(cpu_s: float, tickets: int) -> str:
    """The hub's CPU time (all its processes) per acknowledged ticket over a measured run."""
    per = f"{1000 * cpu_s / tickets:.2f} ms per ticket" if tickets else "no ticket acknowledged"
    return f"{per} ({cpu_s:.1f} s CPU for {tickets:,} tickets)"


def ratio_text(value: float, baseline: float, name: str) -> str:
    return f"{value / baseline:.2f}x {name}" if baseline > 0 else f"({name}: no figure)"


@dataclass(frozen=True, slots=True)
class Row:
    """One row of the issue's table. `met` is None for a row with no target (a comparison)."""

    scenario: str
    measured: str
    target: str
    met: bool | None
    baseline: str = ""


def verdict(met: bool | None) -> str:
    return "met" if met else ("not met" if met is not None else "–")


def render_table(rows: list[Row], *, scaled: bool) -> str:
    """The table as Markdown, ready for the README."""
    head = "| scenario | measured | target | verdict | baseline in the same run |"
    out = [head, "|---|---|---|---|---|"]
    for row in rows:
        cells = [row.scenario, row.measured, row.target, verdict(row.met), row.baseline or "–"]
        out.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    if scaled:
        out.append("")
        out.append("SCALED DOWN (--quick): fewer tickets, events and consoles and shorter runs than the issue's "
                   "table, judged against the issue's targets (the rebuild by its rate). Run without --quick for "
                   "the real figures.")
    return "\n".join(out)
