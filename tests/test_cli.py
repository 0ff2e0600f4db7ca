"""The ``descend`` command line, run for real in a subprocess (``python -m descend.cli``).

Each subprocess costs about a second (Python, JAX, compilation), so related checks share
one run. Bad input never reaches JAX: those cases are quick.
"""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ENV = {**os.environ, "COLUMNS": "200", "JAX_PLATFORMS": "cpu", "PYTHONUNBUFFERED": "1"}
ENV.pop("DESCEND_DEBUG", None)


def cli(*args: str, cwd: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "descend.cli", *args],
        capture_output=True,
        text=True,
        env=ENV,
        cwd=cwd,
        timeout=timeout,
    )


def ok(*args: str, **kw: object) -> str:
    p = cli(*args, **kw)  # type: ignore[arg-type]
    assert p.returncode == 0, p.stderr
    assert "Traceback" not in p.stderr
    return p.stdout


def check_png(path: Path) -> None:
    from PIL import Image

    assert path.stat().st_size > 5_000, f"{path} is suspiciously small"
    with Image.open(path) as im:
        assert im.format == "PNG"
        assert min(im.size) >= 200
        im.verify()


# --------------------------------------------------------------------------- fast commands
def test_help_is_fast_and_does_not_import_jax() -> None:
    code = (
        "import sys; from descend.cli import main; rc = main(['--help']); "
        "print('LOADED', sorted(m for m in ('jax', 'numpy', 'matplotlib') if m in sys.modules))"
    )
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV)
    assert p.returncode == 0, p.stderr
    assert "LOADED []" in p.stdout
    for command in ("run", "compare", "sweep", "landscape", "demo", "functions"):
        assert command in p.stdout


def test_functions_lists_the_library() -> None:
    out = ok("functions")
    names = re.findall(r"^\s?([a-z][a-z0-9-]+)\s", out, flags=re.M)
    assert len(set(names)) >= 15
    assert {"seed-quadratic", "himmelblau", "rosenbrock", "saddle"} <= set(names)
    assert "(3.0000, 2.0000)" in out  # one of himmelblau's global minima
    detail = ok("functions", "six-hump-camel")
    assert len(re.findall(r"^local ", detail, flags=re.M)) == 4
    assert len(re.findall(r"^global ", detail, flags=re.M)) == 2


# --------------------------------------------------------------------------- run
def test_run_seed_quadratic_steps_json_csv(tmp_path: Path) -> None:
    j, c = tmp_path / "run.json", tmp_path / "history.csv"
    out = ok(
        "run",
        "seed-quadratic",
        "--lr",
        "0.1",
        "--start",
        "0,0,0",
        "--gtol",
        "1e-8",
        "--steps",
        "--json",
        str(j),
        "--csv",
        str(c),
    )
    assert re.search(r"^status\s+gtol", out, flags=re.M)
    assert "(1.000000, -2.000000, 0.500000)" in out
    # The hand-computed first step: w1 = w0 - 0.1 * (-2, 8, -3) = (0.2, -0.8, 0.3).
    assert re.search(r"^\s*1\s+0\.200000\s+-0\.800000\s+0\.300000\s+3\.64\s", out, flags=re.M)
    assert re.search(r"^\s*0\s+0\.000000\s+0\.000000\s+0\.000000\s+9\.75\s", out, flags=re.M)
    assert "..." in out  # first and last steps, not all 87

    data = json.loads(j.read_text())
    n = data["nit"] + 1
    assert data["status"] == "gtol" and data["success"] is True
    assert data["nfev"] == n and "gtol" in data["message"]
    assert data["x"] == pytest.approx([1.0, -2.0, 0.5], abs=1e-7)
    hist = data["history"]
    assert hist["steps"] == list(range(n))
    for key in ("x", "fun", "grad_norm", "step_size"):
        assert len(hist[key]) == n, key
    assert hist["x"][0] == [0.0, 0.0, 0.0] and hist["fun"][0] == 9.75
    assert hist["x"][1] == pytest.approx([0.2, -0.8, 0.3], abs=1e-12)
    assert hist["x"][-1] == data["x"] and hist["fun"][-1] == data["fun"]
    assert hist["grad_norm"][-1] == data["grad_norm"] <= 1e-8

    with c.open() as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["step", "w1", "w2", "w3", "fun", "grad_norm", "step_size"]
    assert len(rows) == n
    assert [float(rows[0][k]) for k in ("w1", "w2", "w3")] == [0.0, 0.0, 0.0]
    for i in (0, 1, n - 1):  # the CSV keeps every digit: equal to the JSON
        assert [float(rows[i][k]) for k in ("w1", "w2", "w3")] == hist["x"][i]
        assert float(rows[i]["fun"]) == hist["fun"][i]
        assert float(rows[i]["step_size"]) == hist["step_size"][i]


def test_run_formula_converges_and_draws(tmp_path: Path) -> None:
    j, png, gif = tmp_path / "f.json", tmp_path / "path.png", tmp_path / "path.gif"
    out = ok(
        "run",
        "x**2 + 3*y**2",
        "--start",
        "1,1",
        "--json",
        str(j),
        "--plot",
        str(png),
        "--animate",
        str(gif),
        "--frames",
        "4",  # a GIF costs ~0.15 s a frame
    )
    assert re.search(r"^status\s+gtol \(converged\)", out, flags=re.M)
    data = json.loads(j.read_text())
    assert data["variables"] == ["x", "y"]
    assert data["x"] == pytest.approx([0.0, 0.0], abs=1e-6)
    assert data["history"]["x"][0] == [1.0, 1.0]
    check_png(png)
    assert gif.read_bytes()[:6] in (b"GIF87a", b"GIF89a")


def test_run_three_variables_plots_trajectories(tmp_path: Path) -> None:
    png = tmp_path / "traj.png"
    ok("run", "seed-quadratic", "--max-steps", "50", "--plot", str(png))
    check_png(png)


def test_ctrl_c_prints_the_partial_result() -> None:
    # A run far too long to finish. "start" is the last line before the run begins, and
    # the run turns Ctrl-C into a result from its first moment (tracing, compiling or
    # stepping), so the signal may come at any time after that line.
    args = ["run", "rosenbrock", "--lr", "1e-6", "--gtol", "0", "--max-steps", "2000000000"]
    # A process inherits an ignored SIGINT (tests run in the background) but not a
    # handler: with one here, Ctrl-C reaches the command wherever these tests run.
    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        p = subprocess.Popen(
            [sys.executable, "-m", "descend.cli", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=ENV,
        )
    finally:
        signal.signal(signal.SIGINT, old)
    assert p.stdout is not None
    head = [p.stdout.readline() for _ in range(3)]
    assert head[-1].startswith("start"), head
    time.sleep(0.2)  # not needed for correctness; usually lets it start stepping
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=120)
    assert p.returncode == 130, err
    assert "Traceback" not in err
    assert re.search(r"^status\s+interrupted", out, flags=re.M), out + err
    assert re.search(r"^steps\s+\d+", out, flags=re.M)


# --------------------------------------------------------------------------- many runs
def test_compare_ranks_the_optimizers(tmp_path: Path) -> None:
    png = tmp_path / "cmp.png"
    out = ok("compare", "himmelblau", "--optimizers", "gd,momentum,adam", "--plot", str(png))
    rows = re.findall(r"^\s*(\d)\s+(gd|momentum|adam)\s+(\S+)\s+(\w+)\s", out, flags=re.M)
    assert [r[0] for r in rows] == ["1", "2", "3"]
    assert sorted(r[1] for r in rows) == ["adam", "gd", "momentum"]
    # Default learning rates from the curvature at the start (-3, -3), where the Hessian
    # of Himmelblau's function is [[12 x^2 + 4 y - 42, 4 (x + y)], [4 (x + y), 12 y^2
    # + 4 x - 26]] = [[54, -24], [-24, 70]]: L = 62 + sqrt(8^2 + 24^2) = 87.30 (gd 1/L,
    # momentum 0.1/L); adam's own 0.01.
    L = 62 + (8**2 + 24**2) ** 0.5
    assert {r[1]: r[2] for r in rows} == {
        "gd": f"{1 / L:.4g}",
        "momentum": f"{0.1 / L:.4g}",
        "adam": "0.01",
    }
    success = [r[3] in ("gtol", "xtol", "ftol") for r in rows]
    assert success == sorted(success, reverse=True)  # converged runs first
    check_png(png)


def test_sweep_finds_the_edge_of_divergence(tmp_path: Path) -> None:
    png = tmp_path / "sweep.png"
    out = ok("sweep", "seed-quadratic", "--lr", "1e-3:1:12", "--plot", str(png))
    rows = re.findall(r"^\s*([0-9.e+-]+)\s+(gtol|max_steps|diverged|nonfinite)\s", out, flags=re.M)
    assert len(rows) == 12
    # L = 6 (the largest Hessian eigenvalue): gd diverges above 2/L = 1/3.
    for lr, status in rows:
        assert (status in ("diverged", "nonfinite")) == (float(lr) > 1 / 3), (lr, status)
    assert "first at lr 0.5337" in out
    assert "2/L = 0.3333" in out
    check_png(png)


def test_landscape_finds_himmelblaus_four_minima(tmp_path: Path) -> None:
    png = tmp_path / "basins.png"
    out = ok("landscape", "himmelblau", "--starts", "100", "--plot", str(png), "--resolution", "20")
    assert "found     4 distinct end points" in out
    rows = re.findall(
        r"^\s*\d\s+\(.*\)\s+\S+\s+minimum\s+(\d+)\s+candidate\s+global", out, flags=re.M
    )
    assert len(rows) == 4 and sum(map(int, rows)) == 100
    check_png(png)


# --------------------------------------------------------------------------- demo
def test_demo_runs_and_writes_pictures(tmp_path: Path) -> None:
    folder = tmp_path / "pictures"
    out = ok("demo", "--out", str(folder), cwd=tmp_path)
    assert "dL/dw1 = -2,  dL/dw2 = 8,  dL/dw3 = -3" in out
    assert "(0.2, -0.8, 0.3)" in out
    assert "gradient norm" in out and "gtol" in out
    pngs = sorted(folder.glob("*.png"))
    assert len(pngs) >= 3
    for png in pngs:
        check_png(png)
        assert png.name in out


# --------------------------------------------------------------------------- bad input
BAD_INPUT = [
    (["run", "himmelblu"], "did you mean himmelblau"),
    (["run", "x**2 +"], "bad formula"),
    (["run", "foo(x)"], "unknown function 'foo'"),
    (["run", "beale", "--start", "1,,2"], "--start"),
    (["run", "beale", "--start", "a,b"], "'a' is not a number"),
    (["run", "beale", "--start", "1,2,3"], "beale takes 2 variables"),
    (["run", "x*y", "--start", "1,2,3"], "has 2 variables"),
    (["run", "sphere", "--lr", "0"], "--lr must be a positive number"),
    (["run", "sphere", "--lr", "-0.1"], "--lr must be a positive number"),
    (["run", "sphere", "--optimizer", "adamm"], "did you mean adam"),
    (["compare", "sphere", "--optimizers", "gd,sgdx"], "unknown name 'sgdx'"),
    (["compare", "sphere", "--lr", "0.1,0.2"], "one per optimizer"),
    (["sweep", "sphere", "--lr", "1e-3:1"], "FROM:TO:COUNT"),
    (["sweep", "sphere", "--lr", "1:1e-3:5"], "FROM must be smaller than TO"),
    (["sweep", "sphere", "--lr", "0:1:5"], "FROM must be a positive number"),
    (["run", "sphere", "--plot", "/nonexistent-dir/out.png"], "does not exist"),
    (["run", "sphere", "--json", "/nonexistent-dir/out.json"], "does not exist"),
    (["run", "sphere", "--animate", "out.png"], "must end in .gif"),
    (["demo", "--out", "/nonexistent-dir/demo"], "does not exist"),
    (["landscape", "himmelblau", "--starts", "0"], "--starts"),
    (["landscape", "himmelblau", "--domain", "5:-5"], "LO must be smaller than HI"),
    (["landscape", "seed-quadratic", "--plot", "b.png"], "2 variables"),
    (["run", "sphere", "--no-such-option"], "No such option"),
    (["functions", "nope"], "unknown function 'nope'"),
]


@pytest.mark.parametrize("args, expected", BAD_INPUT, ids=[" ".join(a) for a, _ in BAD_INPUT])
def test_bad_input_is_one_line_and_exit_2(args: list[str], expected: str) -> None:
    p = cli(*args)
    assert p.returncode == 2, (p.stdout, p.stderr)
    assert "Traceback" not in p.stderr
    lines = p.stderr.splitlines()
    assert len(lines) == 1, p.stderr
    assert lines[0].startswith("descend: error: ")
    assert expected in lines[0]
    assert p.stdout == ""
