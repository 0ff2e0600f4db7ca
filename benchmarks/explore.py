"""Explorer benchmarks: how long the explorer's server takes to answer the page.

Run ``python benchmarks/explore.py`` (``--quick`` for fewer repetitions, ``--check``
exits with status 1 when a target is missed). The API's functions are called in this
process (``descend.explore.api``: what the server runs in its thread pool for each
request, the JSON-ready answer included), so the times are server time without the
network; one row also goes through a real server on loopback, for information. The
persistent compilation cache is off (``DESCEND_CACHE=0``), so a new formula compiles.

E1 warm     himmelblau from a new start, 5 optimizers (gd, momentum, nesterov, rmsprop,
            adam) x 1,000 steps (gtol 1e-6 as always; the learning rates are small
            enough that every run takes every step), each call with new learning rates
            (a slider moving) or a new start (a click). Target <= 50 ms a call.
E2 formula  a newly typed formula (``x**2 + 3*y**2 + sin(x*y)`` with a coefficient no
            call used before, so nothing compiled is reused): the first ``/api/run``
            with the same 5 optimizers, compilation included. Target <= 1 s. For
            information, the first ``/api/landscape`` of such a formula (120 x 120 grid
            and the arrows), and a second run of the same formula with new numbers.
E3 http     for information: the warm call of E1 as a POST to ``descend explore``'s
            server on loopback (urllib, one connection a request).

Times are the minimum (and median) over repetitions.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
import urllib.request
from typing import Any

os.environ["DESCEND_CACHE"] = "0"  # every new formula compiles, as on a first visit

import numpy as np  # noqa: E402

import descend  # noqa: E402
from descend.explore import api  # noqa: E402

OPTIMIZERS = ("gd", "momentum", "nesterov", "rmsprop", "adam")
# Small enough that no run meets gtol within 1,000 steps: every run takes every step.
BASE_RATES = {"gd": 1e-4, "momentum": 1e-5, "nesterov": 1e-5, "rmsprop": 1e-4, "adam": 1e-4}


def optimizers(scale: float) -> list[dict[str, Any]]:
    return [{"name": n, "learning_rate": BASE_RATES[n] * scale} for n in OPTIMIZERS]


def timed(fn: Any) -> tuple[float, Any]:
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def stats(times: list[float]) -> str:
    return f"{min(times) * 1e3:.1f} ms (median {statistics.median(times) * 1e3:.1f})"


def bench_warm(repeats: int) -> list[tuple[str, str, float, float]]:
    body = {"function": "himmelblau", "start": [-1.0, 1.0], "optimizers": optimizers(1.0)}
    api.run(body)  # compile once: the page's first request
    rng = np.random.default_rng(0)
    rows = []
    for what, change in (
        (
            "new learning rates (slider)",
            lambda b: {**b, "optimizers": optimizers(rng.uniform(0.5, 2))},
        ),
        ("new start (click)", lambda b: {**b, "start": list(rng.uniform(-4, 4, 2))}),
    ):
        times, steps = [], []
        for _ in range(repeats):
            t, out = timed(lambda: api.run(change(body)))
            times.append(t)
            steps.append(sum(r["nit"] for r in out["runs"]))
        rows.append(
            (
                f"E1 warm himmelblau, 5 optimizers x 1,000 steps: {what}",
                stats(times),
                min(times),
                np.mean(steps),
            )
        )
    return rows


def bench_formula(repeats: int) -> list[tuple[str, str, float]]:
    runs, lands, again = [], [], []
    for i in range(repeats):
        formula = f"x**2 + {3 + 0.001 * (i + 1) + time.time() % 1e-3:.9f}*y**2 + sin(x*y)"
        body = {"formula": formula, "start": [2.0, -1.5], "optimizers": optimizers(10.0)}
        t, _ = timed(lambda: api.run(body))
        runs.append(t)
        t, _ = timed(lambda: api.run({**body, "optimizers": optimizers(20.0)}))
        again.append(t)
        t, _ = timed(lambda: api.landscape({"formula": formula + " + 0*x"}))
        lands.append(t)
    return [
        ("E2 new formula: first /api/run, 5 optimizers (compiles)", stats(runs), min(runs)),
        ("E2 new formula: a second /api/run, new numbers", stats(again), min(again)),
        ("E2 new formula: first /api/landscape, 120 x 120 (compiles)", stats(lands), min(lands)),
    ]


def bench_http(repeats: int) -> tuple[str, str, float]:
    import uvicorn

    from descend.explore import create_app
    from descend.explore.app import listen

    sock, _ = listen("127.0.0.1", 0)
    port = sock.getsockname()[1]
    config = uvicorn.Config(create_app(port=port), log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]})
    thread.start()
    try:
        while not server.started:
            time.sleep(0.02)
        base = f"http://127.0.0.1:{port}"
        body = {"function": "himmelblau", "start": [-1.0, 1.0], "optimizers": optimizers(1.0)}

        def post(b: dict) -> dict:
            req = urllib.request.Request(
                base + "/api/run", json.dumps(b).encode(), {"Content-Type": "application/json"}
            )
            return json.loads(urllib.request.urlopen(req, timeout=30).read())

        post(body)
        rng = np.random.default_rng(1)
        times = []
        for _ in range(repeats):
            new = {**body, "optimizers": optimizers(rng.uniform(0.5, 2))}
            times.append(timed(lambda: post(new))[0])
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()
    return ("E3 the E1 slider call over HTTP on loopback (round trip)", stats(times), min(times))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    opts = parser.parse_args(argv)
    repeats = 5 if opts.quick else 20
    import jax

    print(
        f"descend {descend.__version__}, jax {jax.__version__}, backend {jax.default_backend()}, "
        f"{os.cpu_count()} CPUs\n"
    )
    header = "| benchmark | time | target | met |\n|---|---|---|---|"
    lines, missed = [header], []
    for label, text, best, steps in bench_warm(repeats):
        ok = best <= 0.050
        lines.append(
            f"| {label} ({steps:,.0f} steps in all) | {text} | <= 50 ms | {'yes' if ok else 'NO'} |"
        )
        missed += [] if ok else [label]
    for i, (label, text, best) in enumerate(bench_formula(max(3, repeats // 4))):
        target = i == 0
        ok = best <= 1.0
        verdict = ("yes" if ok else "NO") if target else ""
        lines.append(f"| {label} | {text} | {'<= 1 s' if target else '(info)'} | {verdict} |")
        missed += [label] if target and not ok else []
    label, text, _ = bench_http(repeats)
    lines.append(f"| {label} | {text} | (info) | |")
    print("\n".join(lines))
    if missed:
        print("\nmissed targets:\n  " + "\n  ".join(missed))
    return 1 if (opts.check and missed) else 0


if __name__ == "__main__":
    sys.exit(main())
