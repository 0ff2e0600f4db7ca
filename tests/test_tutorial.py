"""Execute docs/tutorial.ipynb top to bottom and check what it prints and draws.

The notebook runs in a fresh kernel started from *this* interpreter (a kernelspec
written to a temporary JUPYTER_PATH, so no other installed "python3" spec can shadow
it), with a temporary working directory, so nothing is written into the repository.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import numpy as np
import pytest

import descend as ds

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "docs" / "tutorial.ipynb"
KERNEL_NAME = "descend-tutorial-test"
CELL_TIMEOUT = 180  # seconds per cell; the first cells pay for JAX's import and compiles


def _text(cell) -> str:
    """Everything a code cell printed or displayed as text."""
    parts = []
    for out in cell.get("outputs", []):
        if out.output_type == "stream":
            parts.append(out.text)
        elif out.output_type in ("execute_result", "display_data"):
            parts.append(out.data.get("text/plain", ""))
        elif out.output_type == "error":
            parts.append("\n".join(out.traceback))
    return "".join(parts)


def _tagged(nb, tag: str):
    cells = [c for c in nb.cells if tag in c.metadata.get("tags", [])]
    assert len(cells) == 1, f"expected one cell tagged {tag!r}, found {len(cells)}"
    return cells[0]


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    from ipykernel.kernelspec import write_kernel_spec

    tmp = tmp_path_factory.mktemp("tutorial")
    jupyter_dir = tmp / "jupyter"
    write_kernel_spec(
        path=str(jupyter_dir / "kernels" / KERNEL_NAME),
        overrides={"display_name": "descend tutorial test"},
    )
    workdir = tmp / "run"
    workdir.mkdir()

    env = {
        "JUPYTER_PATH": str(jupyter_dir),
        "MPLBACKEND": "Agg",  # the notebook switches to inline; never open a window
        "JAX_PLATFORMS": os.environ.get("JAX_PLATFORMS", "cpu"),
        "PYDEVD_DISABLE_FILE_VALIDATION": "1",
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        nb = nbformat.read(str(NOTEBOOK), as_version=4)
        client = nbclient.NotebookClient(
            nb,
            kernel_name=KERNEL_NAME,
            timeout=CELL_TIMEOUT,
            startup_timeout=120,
            allow_errors=False,
            resources={"metadata": {"path": str(workdir)}},
        )
        client.execute()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return nb, workdir


def test_notebook_builder_is_in_sync():
    """docs/tutorial.ipynb is what docs/make_tutorial.py builds (sources and order)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "make_tutorial", ROOT / "docs" / "make_tutorial.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    built = module.build()
    stored = nbformat.read(str(NOTEBOOK), as_version=4)
    assert [(c.cell_type, c.source) for c in stored.cells] == [
        (c.cell_type, c.source) for c in built.cells
    ], "docs/tutorial.ipynb is stale: run python docs/make_tutorial.py"


def test_runs_in_this_interpreter(executed):
    nb, _ = executed
    text = _text(_tagged(nb, "setup"))
    match = re.search(r"python: (.+)", text)
    assert match, text
    assert os.path.realpath(match.group(1).strip()) == os.path.realpath(sys.executable)


def test_no_errors_and_every_code_cell_ran(executed):
    nb, _ = executed
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        assert cell.get("execution_count") is not None, f"cell {i} did not run"
        for out in cell.outputs:
            assert out.output_type != "error", f"cell {i} failed:\n{_text(cell)}"


def test_partial_derivatives(executed):
    nb, _ = executed
    text = _text(_tagged(nb, "partials"))
    for name, value in (("w1", "-2.0"), ("w2", "8.0"), ("w3", "-3.0")):
        line = next(l for l in text.splitlines() if l.startswith(f"dL/d{name}"))
        assert line.split("=")[1].split()[0] == value, line
        assert line.rstrip().endswith(f"{value})"), line  # the hand computation agrees


def test_gradient_points_uphill(executed):
    nb, _ = executed
    text = _text(_tagged(nb, "uphill"))
    values = dict(re.findall(r"(L\(w0[^)]*\))\s*=\s*([-\d.]+)", text))
    base, up, down = (float(v) for v in values.values())
    assert up > base > down, text
    fastest, along = map(float, re.search(r"directions: ([-\d.]+) <= .*: ([-\d.]+)", text).groups())
    assert fastest <= along, text
    assert along == pytest.approx((2**2 + 8**2 + 3**2) ** 0.5, rel=1e-3)


def test_hand_steps_match_minimize(executed):
    nb, _ = executed
    assert "same as by hand: True" in _text(_tagged(nb, "agree"))


def test_learning_rate_rule(executed):
    nb, _ = executed
    text = _text(_tagged(nb, "suggest"))
    assert "curvature L=6" in text and "max_stable=0.3333" in text, text
    text = _text(_tagged(nb, "sweep"))
    largest = float(re.search(r"largest eta that converged: ([\d.]+)", text).group(1))
    smallest_bad = float(re.search(r"smallest eta that diverged: ([\d.]+)", text).group(1))
    assert largest < 1 / 3 < smallest_bad, text


def test_stopping_rules_and_divergence(executed):
    nb, _ = executed
    text = _text(_tagged(nb, "rules"))
    for label, status in (
        ("gtol=1e-8", "gtol"),
        ("xtol=1e-6", "xtol"),
        ("ftol=1e-12", "ftol"),
        ("max_steps=20", "max_steps"),
    ):
        line = next(l for l in text.splitlines() if l.startswith(label))
        assert f"status={status} " in line, line
    text = _text(_tagged(nb, "diverged"))
    assert "status:  diverged" in text, text
    assert "learning_rate < 2/L" in text, text  # the suggestion in the message


def test_local_versus_global(executed):
    nb, _ = executed
    text = _text(_tagged(nb, "multistart"))
    assert "distinct minima found: 4" in text, text
    assert "4 distinct end points, 0 not converged" in text, text
    text = _text(_tagged(nb, "convexity"))
    assert re.search(r"seed-quadratic\s+convex on samples: True", text), text
    assert re.search(r"himmelblau\s+convex on samples: False", text), text
    text = _text(_tagged(nb, "saddle"))
    assert "origin of x^2 - y^2: saddle" in text, text
    assert "['minimum', 'minimum', 'minimum', 'minimum']" in text, text
    assert "a saddle" in text, text


def test_variants_table(executed):
    nb, _ = executed
    text = _text(_tagged(nb, "variants"))
    rows = {l.split("(")[0].strip(): l for l in text.splitlines()[1:] if l.strip()}
    assert set(rows) == {"gd", "momentum", "nesterov", "rmsprop", "adam"}, text
    for name in ("momentum", "nesterov", "adam"):
        assert " gtol " in rows[name], rows[name]


def test_own_formula(executed):
    nb, _ = executed
    text = _text(_tagged(nb, "formula"))
    assert "variables: ('x', 'y')" in text, text
    assert "status: 'gtol'" in text, text


def test_pictures(executed):
    nb, _ = executed
    images = sum(
        1
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.outputs
        if out.output_type in ("display_data", "execute_result") and "image/png" in out.data
    )
    assert images >= 5, f"only {images} images"


def test_backprop_by_hand_agrees_with_autodiff(executed):
    nb, _ = executed
    text = _text(_tagged(nb, "backprop"))
    rows = [l.split() for l in text.splitlines() if l.startswith(("hidden1.", "output."))]
    assert [r[0] for r in rows] == ["hidden1.w", "hidden1.b", "output.w", "output.b"], text
    assert [r[1] for r in rows] == ["2x3", "3", "3x2", "2"], text  # 2 inputs, 3 hidden, 2 classes
    for r in rows:
        assert float(r[2]) <= 1e-12, r


def test_batch_sizes_against_least_squares(executed):
    nb, _ = executed
    text = _text(_tagged(nb, "batches"))
    line = ds.data.load("line")
    x = line.X[:, 0]
    b, w = np.linalg.lstsq(np.c_[np.ones_like(x), x], line.y, rcond=None)[0]
    assert f"least squares: intercept b = {b:.4f}, slope w = {w:.4f}" in text, text
    rows = {l[:24].strip(): l[24:].split() for l in text.splitlines()[2:] if l.strip()}
    # steps and examples: 100 points; 30 full-batch epochs, 1 epoch of 100 single
    # examples, 3 epochs of 10 batches of 10
    assert rows["full batch, 30 epochs"][:2] == ["30", "3000"], rows
    assert rows["SGD (batch 1), 1 epoch"][:2] == ["100", "100"], rows
    assert rows["mini-batch 10, 3 epochs"][:2] == ["30", "300"], rows
    best = float(np.mean((w * x + b - line.y) ** 2))
    for name in ("full batch, 30 epochs", "SGD (batch 1), 1 epoch", "mini-batch 10, 3 epochs"):
        assert float(rows[name][4]) >= round(best, 4), rows[name]  # no run beats the bottom


def test_early_stopping_cell(executed):
    nb, _ = executed
    text = _text(_tagged(nb, "early-stopping"))
    m = re.search(r"ran (\d+) of at most 100 epochs \((\d+) steps\); best epoch: (\d+)", text)
    assert m, text
    ran, steps, best = map(int, m.groups())
    assert best == ran - 5  # patience 5: stopped 5 epochs after the best one
    train, _, _ = ds.data.load("digits").split(val=0.15, test=0.15, seed=0)
    assert steps == ran * int(np.ceil(len(train) / 32))  # batches of 32, the last smaller
    assert f"best epoch {best} restored" in text, text
    assert float(re.search(r"test accuracy: ([0-9.]+)", text).group(1)) >= 0.95
