"""The issue's targets next to the figures measured, each marked met or NOT met.

Figures are shown rounded against the target (a ratio rounded down, a time rounded up), so a miss
never prints as a pass; the verdict itself always comes from the exact value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


def floor2(value: float) -> float:
    """Two decimals, rounded down."""
    return math.floor(value * 100) / 100


def ceil3(value: float) -> float:
    """Three decimals, rounded up."""
    return math.ceil(value * 1000) / 1000


@dataclass(frozen=True)
class Target:
    name: str
    figure: str
    met: bool


def table(targets: list[Target], title: str = "targets (issue 9):") -> str:
    width = max(len(target.name) for target in targets) + 2
    figure_width = max(len(target.figure) for target in targets) + 2
    lines = [title, f"  {'target':<{width}}{'measured':<{figure_width}}verdict"]
    for target in targets:
        verdict = "met" if target.met else "NOT met"
        lines.append(f"  {target.name:<{width}}{target.figure:<{figure_width}}{verdict}")
    return "\n".join(lines)
