"""What the benchmarks share: round-robin best times and the markdown table.

Importing this module imports nothing heavy (JAX loads on the first timing), so each
benchmark sets its environment (XLA flags, the compilation cache) before JAX starts.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

__all__ = [
    "LAYOUTS",
    "Row",
    "best_times",
    "finish",
    "log",
    "markdown_table",
    "options",
    "report",
    "spawn",
    "verdict",
]


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


def options(doc: str, benchmarks: str, argv: list[str] | None) -> argparse.Namespace:
    """A benchmark script's command line: --quick, --only (of ``benchmarks``, e.g.
    "B1,B2"), --check, and the internal --worker of the layout rows."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, a smoke test (< 60 s)")
    parser.add_argument(
        "--only", default=benchmarks, help=f"comma-separated benchmarks to run (of {benchmarks})"
    )
    parser.add_argument(
        "--check", action="store_true", help="exit with status 1 when a target is missed"
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)  # a layout row's measurement
    opts = parser.parse_args(argv)
    opts.only = {b.strip().upper() for b in opts.only.split(",")}
    return opts


def finish(rows: list[Row], header: str, footnote: str, started: float, check: bool) -> None:
    """Print the table between its header and footnote; with ``check``, exit with status
    1 when a row missed its target."""
    print(header)
    print()
    print(markdown_table(rows))
    print()
    print(footnote)
    print(f"total benchmark time: {time.perf_counter() - started:.0f} s")
    missed = [f"{r.benchmark}: {r.variant}" for r in rows if r.met == "NO"]
    if check and missed:
        print("missed targets:\n  " + "\n  ".join(missed))
        sys.exit(1)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- other layouts
# How a worker runs: one CPU device; two virtual CPU devices in one process; two
# processes of one CPU device each, started by ``descend launch`` (gloo collectives).
LAYOUTS = ("1 device", "2 host devices", "2 processes")


def spawn(script: str, args: list[str], layout: str, timeout: float = 900) -> dict[str, Any]:
    """Run ``python SCRIPT ARGS`` in a new process (or two) laid out as ``layout``; the
    dict its process 0 printed as a ``RESULT {json}`` line."""
    launched = ("DESCEND_COORDINATOR", "DESCEND_NUM_PROCESSES", "DESCEND_PROCESS_ID")
    env = {k: v for k, v in os.environ.items() if k not in launched}
    env.pop("XLA_FLAGS", None)
    env["JAX_PLATFORMS"] = env.get("JAX_PLATFORMS", "cpu")
    cmd = [sys.executable, script, *args]
    if layout == "2 host devices":
        env["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
    elif layout == "2 processes":
        launch = [sys.executable, "-m", "descend.cli", "launch", "-n", "2"]
        cmd = [*launch, "--timeout", str(int(timeout)), "--", *cmd]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout + 60)
    for line in out.stdout.splitlines():
        head, _, body = line.partition("RESULT ")
        if _ and head in ("", "[0] "):
            return json.loads(body)
    raise RuntimeError(f"{layout}: no result (status {out.returncode}):\n{out.stderr[-3000:]}")


def report(result: dict[str, Any]) -> None:
    """What a worker prints for :func:`spawn` (process 0 only)."""
    import jax

    if jax.process_index() == 0:
        print("RESULT " + json.dumps(result), flush=True)
