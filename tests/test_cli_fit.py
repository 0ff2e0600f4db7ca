"""``descend fit``: the command line over descend.data, descend.models and descend.fit.

The runs go through ``descend.cli.main`` in this process (JAX loads and compiles once
for all of them), on small sets and few epochs; the numbers printed and written are
checked against :func:`descend.fit` called directly with the same arguments.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from descend.cli import main


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()  # drop anything printed before
    rc = main(["fit", *args])
    out, err = capsys.readouterr()
    return rc, out, err


def ok(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    rc, out, err = run(capsys, *args)
    assert rc == 0, err
    assert err == "", err
    return out


def table_row(out: str, label: str) -> list[str]:
    """The cells after ``label`` in the summary table (epoch, loss, metric)."""
    m = re.search(rf"^{re.escape(label)}\s+(\S+)\s+(\S+)\s+(\S+)\s*$", out, flags=re.M)
    assert m, f"no row {label!r} in\n{out}"
    return list(m.groups())


def no_nan(text: str) -> dict:
    def refuse(name: str) -> None:
        raise AssertionError(f"{name} in the JSON file")

    return json.loads(text, parse_constant=refuse)


def check_png(path: Path) -> None:
    from PIL import Image

    assert path.stat().st_size > 5_000, f"{path} is suspiciously small"
    with Image.open(path) as im:
        assert im.format == "PNG"
        im.verify()


@pytest.fixture(autouse=True)
def _wide_and_in_tmp(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # rich tables one row a line
    monkeypatch.delenv("DESCEND_DEBUG", raising=False)
    monkeypatch.chdir(tmp_path)


# --------------------------------------------------------------------------- runs
def test_help_lists_fit_without_importing_jax() -> None:
    code = (
        "import sys; from descend.cli import main; rc = main(['--help']); "
        "rc = rc or main(['fit', '--help']); "
        "print('LOADED', sorted(m for m in ('jax', 'numpy', 'matplotlib') if m in sys.modules))"
    )
    env = {**os.environ, "COLUMNS": "200"}
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert p.returncode == 0, p.stderr
    assert "LOADED []" in p.stdout
    assert re.search(r"^\s+fit\s+Train a model", p.stdout, flags=re.M)
    assert "train models on data sets (fit)" in " ".join(p.stdout.split())
    assert "--early-stopping" in p.stdout and "--resume" in p.stdout


def test_iris_agrees_with_the_library(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    import descend as ds

    j, png = tmp_path / "fit.json", tmp_path / "curves.png"
    out = ok(
        capsys,
        "iris", "--model", "softmax", "--optimizer", "adam", "--lr", "0.05",
        "--batch-size", "32", "--epochs", "8", "--json", str(j), "--plot", str(png),
    )  # fmt: skip
    # The same fit, called directly: the defaults are a 0.15/0.15 split with seed 0
    # and float32.
    train, val, test = ds.data.load("iris").split(val=0.15, test=0.15, seed=0)
    fit = ds.fit(
        ds.models.softmax(), train, ds.adam(0.05), batch_size=32, epochs=8, validation=val, seed=0
    )
    from descend.cli.report import num

    assert "train 102, validation 24, test 24" in out
    assert re.search(r"^status\s+max_epochs \(success\)$", out, flags=re.M)
    assert f"message   {fit.message}" in out
    assert re.search(rf"^epochs\s+8 \({fit.steps} steps\)", out, flags=re.M)
    assert fit.steps == 8 * 4  # 102 rows in batches of 32: 4 steps an epoch
    ev = fit.evaluate(test)
    assert table_row(out, "test (24 rows)") == ["8", num(ev["loss"], 4), num(ev["accuracy"], 4)]
    assert table_row(out, "validation, last epoch") == [
        "8",
        num(fit.history.val_loss[-1], 4),
        num(fit.history.val_accuracy[-1], 4),
    ]
    assert table_row(out, "train, last epoch") == ["8", num(fit.history.train_loss[-1], 4), "-"]
    assert f"wrote {j}" in out and f"wrote {png}" in out

    d = no_nan(j.read_text())
    assert d["status"] == "max_epochs" and d["success"] is True
    assert d["epochs"] == 8 and d["steps"] == 32
    assert d["model"] == "softmax(classes=3)"
    assert d["optimizer"] == "adam" and d["learning_rate"] == 0.05
    assert d["batch_size"] == 32
    assert d["data"]["classes"] == ["setosa", "versicolor", "virginica"]
    assert (d["data"]["train"], d["data"]["validation"], d["data"]["test"]) == (102, 24, 24)
    assert d["evaluation"]["test"]["accuracy"] == fit.score(test)
    assert d["evaluation"]["test"]["loss"] == ev["loss"]
    assert d["history"]["epoch"] == list(range(1, 9))
    assert d["history"]["train_loss"] == [float(v) for v in fit.history.train_loss]
    assert d["history"]["val_loss"] == [float(v) for v in fit.history.val_loss]
    assert d["history"]["val_accuracy"] == [float(v) for v in fit.history.val_accuracy]
    assert len(d["history"]["batch_loss"]) == 32
    assert "val_r2" not in d["history"]
    check_png(png)


def test_csv_with_a_target_column(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    import numpy as np

    rng = np.random.default_rng(1)
    size, rooms = rng.uniform(50, 200, 80), rng.integers(1, 6, 80)
    price = 3 * size + 20 * rooms + rng.normal(0, 10, 80)
    csv = tmp_path / "prices.csv"
    lines = ["price,size,rooms"] + [f"{p:.2f},{s:.2f},{r}" for p, s, r in zip(price, size, rooms)]
    csv.write_text("\n".join(lines) + "\n")
    j = tmp_path / "prices.json"
    out = ok(
        capsys,
        str(csv), "--target", "price", "--model", "linear", "--optimizer", "gd",
        "--lr", "auto", "--batch-size", "full", "--epochs", "200", "--float64",
        "--json", str(j),
    )  # fmt: skip
    assert "prices: 80 rows x 2 features, regression of 'price'" in out
    assert "learning rate" in out and "1/L" in out
    loss, r2 = table_row(out, "test (12 rows)")[1:]
    assert re.search(r"^\s+epoch\s+loss\s+R\^2\s*$", out, flags=re.M)
    assert float(r2) > 0.99  # price is linear in size and rooms
    d = no_nan(j.read_text())
    assert d["data"]["features"] == ["size", "rooms"] and d["data"]["target"] == "price"
    assert d["status"] == "gtol" and d["options"]["dtype"] == "float64"
    assert d["learning_rate_rule"].startswith("1/L")
    assert d["evaluation"]["test"]["r2"] == pytest.approx(float(r2), abs=1e-4)
    assert set(d["evaluation"]["test"]) == {"rows", "loss", "r2", "mse"}

    # Text classes, default model (logistic for 2 classes), too few rows to split.
    small = tmp_path / "small.csv"
    small.write_text(
        "x,label\n" + "".join(f"{i},{'big' if i > 4 else 'small'}\n" for i in range(10))
    )
    out = ok(capsys, str(small), "--epochs", "3", "--batch-size", "4")
    assert "model     logistic(classes=2) (chosen for 2 classes)" in out
    assert "only 10 rows: training on all of them" in out
    assert "test (" not in out and "validation" not in out.split("status")[1]


def test_non_finite_numbers_are_null_in_json(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # A constant target: R^2 is 0/0 on every part.
    csv = tmp_path / "flat.csv"
    csv.write_text("a,b,y\n" + "".join(f"{i},{i * i % 7},5.5\n" for i in range(30)))
    j = tmp_path / "flat.json"
    out = ok(capsys, str(csv), "--epochs", "3", "--batch-size", "full", "--json", str(j))
    assert "inf" in table_row(out, "test (4 rows)")[2] or "nan" in out
    d = no_nan(j.read_text())
    assert d["history"]["val_r2"] == [None, None, None]
    assert d["evaluation"]["test"]["r2"] is None
    assert d["evaluation"]["test"]["loss"] is not None


def test_early_stopping_restores_the_best_epoch(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    import descend as ds

    args = ["line", "--model", "mlp:8", "--lr", "0.1", "--epochs", "30", "--early-stopping", "3"]
    out = ok(capsys, *args, "--seed", "0")
    train, val, test = ds.data.load("line").split(val=0.15, test=0.15, seed=0)
    fit = ds.fit(
        ds.models.mlp([8]),
        train,
        ds.adam(0.1),
        epochs=30,
        validation=val,
        early_stopping=3,
        seed=0,
    )
    assert fit.status.value == "early_stopped" and 0 < fit.best_epoch < fit.epochs
    assert re.search(r"^status\s+early_stopped \(success\)$", out, flags=re.M)
    assert f"best epoch {fit.best_epoch} (lowest validation loss, parameters restored)" in out
    best = table_row(out, "validation, best epoch")
    assert best[0] == str(fit.best_epoch)
    assert table_row(out, "validation, last epoch")[0] == str(fit.epochs)
    # The test part is scored with the restored parameters.
    test_row = table_row(out, "test (15 rows)")
    assert test_row[0] == str(fit.best_epoch)
    assert float(test_row[2]) == pytest.approx(fit.score(test), abs=1e-4)


def test_checkpoint_then_resume_continues(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    common = ["iris", "--lr", "0.02", "--batch-size", "16"]
    ok(capsys, *common, "--epochs", "3", "--checkpoint", "ck", "--seed", "2")
    assert (tmp_path / "ck" / "checkpoint.npz").is_file()
    # The seed (and so the split) comes from the checkpoint.
    out = ok(capsys, *common, "--epochs", "6", "--resume", "ck", "--json", "resumed.json")
    assert "resume    ck: from epoch 3" in out
    assert re.search(r"^epochs\s+6 \(", out, flags=re.M)
    ok(capsys, *common, "--epochs", "6", "--seed", "2", "--json", "straight.json")
    resumed = no_nan((tmp_path / "resumed.json").read_text())
    straight = no_nan((tmp_path / "straight.json").read_text())
    assert resumed["options"]["seed"] == 2
    assert resumed["history"] == straight["history"]  # exactly the same numbers
    assert resumed["evaluation"] == straight["evaluation"]
    # A different fit is refused before anything is printed.
    rc, out, err = run(capsys, *common, "--epochs", "9", "--resume", "ck", "--model", "mlp:4")
    assert rc == 2 and out == ""
    assert err.startswith("descend: error: --resume: 'ck' was written for model softmax")


# --------------------------------------------------------------------------- bad input
BAD_INPUT = [
    (["irsi"], "did you mean 'iris'"),
    (["missing.csv"], "no such CSV file"),
    (["iris", "--model", "cnn"], "unknown model 'cnn'"),
    (["iris", "--model", "mlp:64,x"], "hidden layer sizes must be whole numbers"),
    (["iris", "--model", "mlp:0"], "hidden layer sizes must be whole numbers"),
    (["iris", "--model", "linear"], "--model linear needs a numeric target"),
    (["iris", "--model", "logistic"], "iris has 3: use --model softmax"),
    (["line", "--model", "softmax"], "--model softmax needs classes"),
    (["iris", "--activation", "tanh"], "--activation applies to --model mlp"),
    (["iris", "--optimizer", "adamm"], "did you mean adam"),
    (["iris", "--lr", "0"], "--lr must be a positive number"),
    (["iris", "--lr", "fast"], "--lr must be a positive number or 'auto'"),
    (["iris", "--lr", "inf"], "--lr must be a positive number"),
    (["iris", "--batch-size", "0"], "--batch-size must be a whole number >= 1"),
    (["iris", "--batch-size", "many"], "--batch-size must be a whole number >= 1"),
    (["iris", "--batch-size", "500"], "more than the 102 training rows"),
    (["iris", "--epochs", "0"], "--epochs"),
    (["iris", "--val", "1.2"], "--val"),
    (["iris", "--val", "0.6", "--test", "0.5"], "val + test must be below 1"),
    (["iris", "--l2", "-1"], "--l2"),
    (["iris", "--target", "species"], "--target is for CSV files"),
    (["iris", "--early-stopping", "3", "--val", "0"], "--early-stopping needs a validation"),
    (["iris", "--plot", "/nonexistent-dir/c.png"], "does not exist"),
    (["iris", "--plot", "curves.gif"], "must end in .png"),
    (["iris", "--json", "/nonexistent-dir/f.json"], "does not exist"),
    (["iris", "--checkpoint", "/nonexistent-dir/ck"], "does not exist"),
    (["iris", "--resume", "no-such-folder"], "no such folder"),
    (["iris", "--resume", "."], "no checkpoint at"),
    (["iris", "--no-such-option"], "No such option"),
]


@pytest.mark.parametrize("args, expected", BAD_INPUT, ids=[" ".join(a) for a, _ in BAD_INPUT])
def test_bad_input_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, args: list[str], expected: str
) -> None:
    rc, out, err = run(capsys, *args)
    assert rc == 2, (out, err)
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("descend: error: ")
    assert expected in lines[0]
    assert out == ""
    assert list(tmp_path.iterdir()) == []  # nothing written, no folder made


def test_bad_csv_target_names_the_columns(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "p.csv").write_text("size,price\n1,2\n2,4\n3,6\n")
    rc, out, err = run(capsys, "p.csv", "--target", "prize")
    assert rc == 2 and out == ""
    assert err.startswith("descend: error: ") and len(err.splitlines()) == 1
    assert "no column 'prize'" in err and "'price'" in err


def test_boundary_pictures_for_two_features(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from PIL import Image

    png, gif = tmp_path / "b.png", tmp_path / "b.gif"
    ok(capsys, "moons", "--model", "mlp:8", "--lr", "0.01", "--epochs", "6", "--boundary", str(png))
    check_png(png)
    out = ok(
        capsys, "moons", "--model", "mlp:8", "--lr", "0.01", "--epochs", "6", "--boundary", str(gif)
    )
    assert f"wrote {gif}" in out
    assert Image.open(gif).n_frames == 7  # the start, then each epoch's end
    code, _, err = run(capsys, "iris", "--boundary", str(png))
    assert code == 2 and "two features" in err and err.count("\n") == 1
