"""Printing and writing results: rich tables, number formats, JSON and CSV files."""

from __future__ import annotations

import csv
import json
import math
import os
import sys
from collections.abc import Iterable, Sequence
from typing import Any

# Rows of a step table shown at each end (the seed walkthrough's "first and last steps").
HEAD_ROWS = 6
TAIL_ROWS = 3


def console() -> Any:
    """A rich console for stdout; no markup (formulas contain brackets), no colours
    guessed from numbers, and wide when piped so tables do not wrap in files."""
    from rich.console import Console

    piped = not sys.stdout.isatty() and "COLUMNS" not in os.environ
    return Console(markup=False, highlight=False, width=200 if piped else None)


def table(*columns: str, title: str | None = None) -> Any:
    from rich import box
    from rich.table import Table

    t = Table(
        box=box.SIMPLE_HEAD, title=title, title_justify="left", pad_edge=False, show_edge=False
    )
    for c in columns:
        t.add_column(c, justify="left" if c in _TEXT_COLUMNS else "right")
    return t


_TEXT_COLUMNS = {
    "name",
    "formula",
    "status",
    "optimizer",
    "kind",
    "x",
    "global minimum x",
    "note",
    "message",
    "known",
}


def num(v: float, digits: int = 6) -> str:
    """Fixed ``digits`` decimals for ordinary sizes, scientific otherwise; no ``-0``."""
    v = float(v)
    if not math.isfinite(v):
        return str(v)
    if v == 0 or 10.0**-4 <= abs(v) < 1e6:
        s = f"{v:.{digits}f}"
        return s[1:] if s.startswith("-") and float(s) == 0 else s
    return f"{v:.{max(digits - 2, 3)}e}"


def sci(v: float, digits: int = 4) -> str:
    return f"{float(v):.{digits}g}" if math.isfinite(float(v)) else str(float(v))


def vector(xs: Iterable[float], digits: int = 6) -> str:
    return "(" + ", ".join(num(v, digits) for v in xs) + ")"


def short(xs: Iterable[float]) -> str:
    """A start point as typed: (0, 0, 0), (-1.2, 1)."""
    return "(" + ", ".join(f"{float(v):g}" for v in xs) + ")"


def flat_x(x: Any) -> list[float]:
    import numpy as np

    return [float(v) for v in np.ravel(np.asarray(x, np.float64))]


def lr_text(lr: float) -> str:
    return f"{lr:.4g}"


# --------------------------------------------------------------------------- results
def print_result(out: Any, res: Any) -> None:
    """The lines every run prints: status, message, x, f, |grad|, steps."""
    verdict = "converged" if res.success else "did not converge"
    rows = [
        ("status", f"{res.status.value} ({verdict})"),
        ("message", res.message),
        ("x", vector(flat_x(res.x))),
        ("f", sci(res.fun, 10)),
        ("|grad|", f"{res.grad_norm:.4g}"),
        ("steps", f"{res.nit} ({res.nfev} evaluations of f and its gradient)"),
    ]
    for k, v in rows:
        out.print(f"{k:<9} {v}", soft_wrap=True)


def step_rows(n: int) -> list[int | None]:
    """Row indices of a history of ``n`` rows to show; None marks the gap."""
    if n <= HEAD_ROWS + TAIL_ROWS + 1:
        return list(range(n))
    return list(range(HEAD_ROWS)) + [None] + list(range(n - TAIL_ROWS, n))


def steps_table(history: Any, names: Sequence[str]) -> Any:
    """First and last steps: step, each variable, f, |grad|, step size."""
    import numpy as np

    t = table("step", *names, "f", "|grad|", "step size")
    xs = np.asarray(history.x, np.float64).reshape(len(history), -1)
    for i in step_rows(len(history)):
        if i is None:
            t.add_row("...", *([""] * (len(names) + 3)))
            continue
        t.add_row(
            str(int(history.steps[i])),
            *(num(v) for v in xs[i]),
            sci(history.fun[i], 6),
            f"{float(history.grad_norm[i]):.3e}",
            f"{float(history.step_size[i]):.3e}",
        )
    return t


def _finite(v: float) -> float | None:
    """JSON has no inf or nan: non-finite numbers are written as null."""
    v = float(v)
    return v if math.isfinite(v) else None


def _column(a: Any) -> list[float | None]:
    import numpy as np

    return [_finite(v) for v in np.ravel(np.asarray(a, np.float64))]


def result_dict(res: Any, meta: dict[str, Any]) -> dict[str, Any]:
    """A run as plain data: settings, result fields and the whole history as lists."""
    import numpy as np

    h = res.history
    xs = np.asarray(h.x, np.float64).reshape(len(h), -1)
    return {
        **meta,
        "x": [_finite(v) for v in flat_x(res.x)],
        "fun": _finite(res.fun),
        "nit": int(res.nit),
        "nfev": int(res.nfev),
        "status": res.status.value,
        "success": bool(res.success),
        "message": res.message,
        "grad_norm": _finite(res.grad_norm),
        "history": {
            "steps": [int(s) for s in h.steps],
            "x": [[_finite(v) for v in row] for row in xs],
            "fun": _column(h.fun),
            "grad_norm": _column(h.grad_norm),
            "step_size": _column(h.step_size),
        },
    }


def write_json(path: str, data: dict[str, Any]) -> None:
    """One top-level key per line, each value compact (histories stay readable)."""
    lines = [f"  {json.dumps(k)}: {json.dumps(v, allow_nan=False)}" for k, v in data.items()]
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("{\n" + ",\n".join(lines) + "\n}\n")


def write_csv(path: str, history: Any, names: Sequence[str]) -> None:
    """One row per recorded step; repr() keeps every digit of the float64 values."""
    import numpy as np

    xs = np.asarray(history.x, np.float64).reshape(len(history), -1)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["step", *names, "fun", "grad_norm", "step_size"])
        for i in range(len(history)):
            w.writerow(
                [int(history.steps[i])]
                + [repr(float(v)) for v in xs[i]]
                + [repr(float(a[i])) for a in (history.fun, history.grad_norm, history.step_size)]
            )
