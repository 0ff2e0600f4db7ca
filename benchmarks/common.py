"""What the benchmarks share: round-robin best times and the markdown table.

Importing this module imports nothing heavy (JAX loads on the first timing), so each
benchmark sets its environment (XLA flags, the compilation cache) before JAX starts.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from collections.abc import Callable
from typing import Any

__all__ = ["Row", "best_times", "log", "markdown_table", "verdict"]


def best_times(fns: dict[str, Callable[[], Any]], repeats: int) -> dict[str, float]:
    """Minimum wall time of each zero-argument function, after one warm-up call each.

    Repetitions go round-robin over the functions, so slow phases of a noisy machine
    are shared among them. Within a round each function runs twice and the second
    call is timed: the first one after another variant finds cold caches and sleeping
    XLA worker threads, which costs sub-millisecond calls tens of percent, and would
    measure the order of the variants rather than the variants.
    """
    import jax

    for fn in fns.values():
        jax.block_until_ready(fn())
    best = {name: float("inf") for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            jax.block_until_ready(fn())
            t0 = time.perf_counter()
            jax.block_until_ready(fn())
            best[name] = min(best[name], time.perf_counter() - t0)
    return best


@dataclasses.dataclass
class Row:
    benchmark: str
    variant: str
    time: str
    ratio: str = ""
    target: str = ""
    met: str = ""


def verdict(ok: bool) -> str:
    return "yes" if ok else "NO"


def markdown_table(rows: list[Row]) -> str:
    header = ["benchmark", "variant", "time", "ratio", "target", "met"]
    cells = [header] + [[str(v) for v in dataclasses.astuple(r)] for r in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(header))]

    def fmt(line: list[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(line, widths)) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([fmt(cells[0]), rule] + [fmt(line) for line in cells[1:]])


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
