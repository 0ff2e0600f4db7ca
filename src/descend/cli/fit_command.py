"""``descend fit``: train a model on a data set or a CSV file, with learning curves.

A thin layer over :func:`descend.data.load`, ``Dataset.split``, :mod:`descend.models`
and :func:`descend.fit`. Every option is checked (and every output path tried) before
the data is read or JAX is imported; input the library refuses comes back as
:class:`InputError`, so it ends as one line ``descend: error: ...`` and exit 2.
Only click is imported at module level (``descend --help`` stays instant).
"""

from __future__ import annotations

import difflib
import math
import sys
import time
from pathlib import Path
from typing import Any

import click

from .commands import EXIT_INTERRUPTED, cli, load_plot, out
from .inputs import InputError, check_folder, check_output, optimizer_factory

MODELS = ("linear", "logistic", "softmax", "mlp")
# The default split: this share of the rows for validation and as much for the test,
# when the data has at least MIN_ROWS_FOR_PARTS rows (and every class can give some).
DEFAULT_PART = 0.15
MIN_ROWS_FOR_PARTS = 20
DEFAULT_HIDDEN = (64,)
FULL_BATCH = ("full", "none", "all")


# --------------------------------------------------------------------------- reading options
def parse_model(text: str | None) -> tuple[str, tuple[int, ...]] | None:
    """``"mlp:64,32"`` -> ("mlp", (64, 32)); ``"linear"`` -> ("linear", ()); None: choose
    from the data."""
    if text is None:
        return None
    name, sep, sizes = text.strip().lower().partition(":")
    name = name.strip()
    if name not in MODELS:
        close = difflib.get_close_matches(name, MODELS, n=2)
        hint = f"; did you mean {' or '.join(close)}?" if close else ""
        raise InputError(
            f"--model: unknown model {text!r}; expected linear, logistic, softmax or "
            f"mlp:SIZE[,SIZE...] (e.g. mlp:64,64){hint}"
        )
    if name != "mlp":
        if sep:
            raise InputError(f"--model: {name} has no layer sizes, got {text!r}")
        return name, ()
    if not sep:
        return name, DEFAULT_HIDDEN
    hidden = []
    for item in sizes.split(","):
        item = item.strip()
        try:
            size = int(item)
        except ValueError:
            size = 0
        if size < 1:
            raise InputError(
                f"--model: hidden layer sizes must be whole numbers >= 1, got {item!r} in "
                f"{text!r} (e.g. mlp:64,64)"
            )
        hidden.append(size)
    return name, tuple(hidden)


def parse_batch_size(text: str) -> int | None:
    """A whole number >= 1, or ``full`` (None: every training row in each step)."""
    t = text.strip().lower()
    if t in FULL_BATCH:
        return None
    try:
        size = int(t)
    except ValueError:
        raise InputError(
            f"--batch-size must be a whole number >= 1 or 'full', got {text!r}"
        ) from None
    if size < 1:
        raise InputError(f"--batch-size must be a whole number >= 1 or 'full', got {text!r}")
    return size


def parse_lr(text: str) -> float | str:
    """A positive number, or ``auto`` (the optimizer picks at the start; 1/L for gd)."""
    t = text.strip().lower()
    if t == "auto":
        return "auto"
    try:
        lr = float(t)
    except ValueError:
        raise InputError(f"--lr must be a positive number or 'auto', got {text!r}") from None
    if not (lr > 0 and math.isfinite(lr)):
        raise InputError(f"--lr must be a positive number, got {text!r}")
    return lr


def check_resume(path: str | None) -> dict | None:
    """The header of ``DIR/checkpoint.npz`` (epoch, seed, ...), or a one-line error."""
    if path is None:
        return None
    if not Path(path).exists():
        raise InputError(f"--resume: no such folder: {path!r} (give a --checkpoint folder)")
    if not Path(path).is_dir():
        raise InputError(f"--resume: {path!r} is not a folder (give a --checkpoint folder)")
    from descend._fit import checkpoint

    try:
        header, _ = checkpoint.load(path)
    except (OSError, ValueError) as e:
        raise InputError(f"--resume: {str(e).removeprefix('resume: ')}") from None
    return header


def check_checkpoint(path: str | None) -> None:
    """Refuse a --checkpoint folder that cannot be made or written (without making it:
    that waits until the fit starts, so bad input leaves nothing behind)."""
    if path is not None:
        check_folder(path, "--checkpoint", create=False)


def check_same_fit(
    header: dict, where: str, model: Any, data: Any, train: Any, batch_size: Any, float64: bool
) -> None:
    """Refuse (before printing anything) to resume a checkpoint of another fit."""
    ours = {
        "model": ("model", repr(model), "--model, --l2 and --activation must match"),
        "n_features": ("features", data.n_features, "the same DATA"),
        "n_train": ("training rows", len(train), "the same DATA, --val and --test"),
        "batch_size": ("--batch-size", batch_size, ""),
        "dtype": ("dtype", "float64" if float64 else "float32", "--float64 must match"),
    }
    for key, (label, value, hint) in ours.items():
        if key in header and header[key] != value:
            saved, now = ("full" if v is None else v for v in (header[key], value))
            raise InputError(
                f"--resume: {where!r} was written for {label} {saved}; this fit has {now}"
                + (f" ({hint})" if hint else "")
            )


def load_data(source: str, target: str | None, task: str | None) -> Any:
    import descend as ds

    if source not in ds.data.DATASETS:
        p = Path(source)
        if p.is_dir():
            raise InputError(f"DATA: {source!r} is a folder; give a data set name or a CSV file")
        if p.suffix.lower() == ".csv" and not p.exists():
            raise InputError(f"DATA: no such CSV file: {source!r}")
    elif target is not None:
        raise InputError(f"--target is for CSV files; {source!r} has its own target")
    try:
        return ds.data.load(source, target, task=task)
    except (ValueError, TypeError) as e:
        raise InputError(str(e)) from None
    except OSError as e:
        raise InputError(f"DATA: cannot read {source!r}: {e.strerror or e}") from None


def make_model(
    spec: tuple[str, tuple[int, ...]] | None, data: Any, l2: float, activation: str | None
) -> tuple[Any, str]:
    """The model for ``data`` and how it was chosen ("" when --model said)."""
    import descend as ds

    how = ""
    if spec is None:
        if not data.is_classification:
            spec, how = ("linear", ()), "chosen for a numeric target"
        elif data.n_classes == 2:
            spec, how = ("logistic", ()), "chosen for 2 classes"
        else:
            spec, how = ("softmax", ()), f"chosen for {data.n_classes} classes"
    name, hidden = spec
    if activation is not None and name != "mlp":
        raise InputError(f"--activation applies to --model mlp, not {name}")
    if name == "linear" and data.is_classification:
        raise InputError(
            f"--model linear needs a numeric target; {data.name} has {data.n_classes} classes: "
            f"use --model {'logistic' if data.n_classes == 2 else 'softmax'} or mlp "
            "(or --task regression)"
        )
    if name in ("logistic", "softmax") and not data.is_classification:
        raise InputError(
            f"--model {name} needs classes; the target of {data.name} is a number: use "
            "--model linear or mlp (or --task classification)"
        )
    if name == "logistic" and data.n_classes != 2:
        raise InputError(
            f"--model logistic needs 2 classes; {data.name} has {data.n_classes}: "
            "use --model softmax"
        )
    try:
        if name == "mlp":
            model = ds.models.mlp(list(hidden), activation=activation or "relu", l2=l2)
        else:
            model = getattr(ds.models, name)(l2=l2)
        return model.for_data(data.task, data.n_classes), how
    except (ValueError, TypeError) as e:
        raise InputError(f"--model: {e}") from None


def split_data(data: Any, val: float | None, test: float | None, seed: int) -> tuple[list, str]:
    """(train, validation or None, test or None) and a note when the defaults gave way."""
    defaults = val is None and test is None
    big = len(data) >= MIN_ROWS_FOR_PARTS
    v = val if val is not None else (DEFAULT_PART if big else 0.0)
    t = test if test is not None else (DEFAULT_PART if big else 0.0)
    note = "" if big or not defaults else f"only {len(data)} rows: training on all of them"
    try:
        parts = list(data.split(val=v, test=t, seed=seed))
    except ValueError as e:
        if not defaults:
            raise InputError(f"--val/--test: {e}") from None
        parts = list(data.split(seed=seed))
        v = t = 0.0
        note = (
            "too few rows in some class for validation and test parts: training on all "
            "rows (--val and --test choose)"
        )
    train = parts.pop(0)
    valid = parts.pop(0) if v > 0 else None
    tst = parts.pop(0) if t > 0 else None
    return [train, valid, tst], note


def want_progress(flag: bool | None) -> bool:
    if flag is not None:
        return flag
    return sys.stdout.isatty() and sys.stderr.isatty()


# --------------------------------------------------------------------------- the command
@cli.command()
@click.argument("data_source", metavar="DATA")
@click.option(
    "--target",
    metavar="COLUMN",
    help="The CSV column to predict (default: the last one). Not for named data sets.",
)
@click.option(
    "--task",
    type=click.Choice(["classification", "regression"]),
    default=None,
    help="Override the kind of target (default: text, and up to 20 distinct whole numbers "
    "with two rows each on average, are classes; other numbers a regression target).",
)
@click.option(
    "--model",
    "model_spec",
    metavar="MODEL",
    help="linear (regression), logistic (2 classes), softmax (classes) or mlp:SIZE[,SIZE...] "
    "(hidden layers, e.g. mlp:64,64; plain mlp is mlp:64). Default: linear for a numeric "
    "target, logistic for 2 classes, softmax for more.",
)
@click.option(
    "--activation",
    type=click.Choice(["relu", "tanh", "sigmoid", "gelu"]),
    default=None,
    help="Hidden-layer activation of an mlp (default relu).",
)
@click.option(
    "--optimizer",
    default=None,
    help="Update rule: gd, momentum, nesterov, adagrad, rmsprop, adam or adamw. Default: "
    "gd for the linear models (convex: full-batch gd with 1/L converges), adam for an mlp.",
)
@click.option(
    "--lr",
    "lr_text",
    default=None,
    metavar="LR",
    help="Learning rate (> 0), or 'auto': chosen at the start (1/L of the full-batch loss "
    "for gd, the optimizer's own for adam and the other adaptive rules). Default: auto for "
    "gd, momentum and nesterov, 1e-3 for the others.",
)
@click.option(
    "--batch-size",
    "batch_text",
    default=None,
    metavar="N|full",
    help="Training rows per step; 'full' is full-batch gradient descent (one step an epoch). "
    "Default: full for the linear models, 32 for an mlp.",
)
@click.option(
    "--epochs",
    type=click.IntRange(min=1),
    default=100,
    show_default=True,
    help="Most epochs (a resumed fit counts its earlier epochs).",
)
@click.option(
    "--val",
    type=click.FloatRange(min=0, max=1, max_open=True),
    default=None,
    help=f"Share of the rows for validation (default {DEFAULT_PART:g} when the data has "
    f"{MIN_ROWS_FOR_PARTS} rows or more, else 0).",
)
@click.option(
    "--test",
    type=click.FloatRange(min=0, max=1, max_open=True),
    default=None,
    help=f"Share of the rows held out for the final test (default {DEFAULT_PART:g}, as --val).",
)
@click.option(
    "--seed",
    type=click.IntRange(min=0),
    default=None,
    help="Seed of the split, the initialization and the shuffling (default 0; a resumed fit "
    "keeps its checkpoint's).",
)
@click.option(
    "--l2",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="L2 penalty: the loss is mean loss + l2/2 * sum of squared weights.",
)
@click.option(
    "--early-stopping",
    type=click.IntRange(min=1),
    default=None,
    metavar="N",
    help="Stop when the validation loss has not improved for N epochs, and keep the best "
    "epoch's parameters.",
)
@click.option(
    "--checkpoint",
    metavar="FOLDER",
    help="Save the training state here after every epoch (created if missing).",
)
@click.option(
    "--resume",
    metavar="FOLDER",
    help="Continue the fit checkpointed in FOLDER (same data, model, batch size and dtype); "
    "it goes on saving there unless --checkpoint says otherwise.",
)
@click.option(
    "--plot",
    metavar="OUT.png",
    help="Draw the learning curves (losses and the validation metric by epoch).",
)
@click.option(
    "--boundary",
    metavar="OUT.png|OUT.gif",
    help="For two features and classes (moons, circles): the decision boundary over the "
    "data, or (.gif) an animation of it over the epochs.",
)
@click.option(
    "--json",
    "json_path",
    metavar="OUT.json",
    help="Write the settings, the summary and the whole history (non-finite numbers as null).",
)
@click.option("--float64", is_flag=True, help="Train in float64 (default float32).")
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Show a progress bar of epochs with the losses (default: on a terminal).",
)
def fit(
    data_source: str,
    target: str | None,
    task: str | None,
    model_spec: str | None,
    activation: str | None,
    optimizer: str,
    lr_text: str,
    batch_text: str,
    epochs: int,
    val: float | None,
    test: float | None,
    seed: int | None,
    l2: float,
    early_stopping: int | None,
    checkpoint: str | None,
    resume: str | None,
    plot: str | None,
    boundary: str | None,
    json_path: str | None,
    float64: bool,
    progress: bool | None,
) -> int:
    """Train a model on DATA by gradient descent and report how it learned.

    DATA is a data set (iris, wine, breast_cancer, digits, diabetes, moons, circles,
    line) or a CSV file with a header row (--target names the column to predict). The
    rows are split into train, validation and test parts (stratified by class, then
    standardized by the train part); the model trains on the first, is watched on the
    second each epoch, and scored once on the third. Ctrl-C stops the fit and prints the
    result so far.

    \b
    Examples:
      descend fit digits --model mlp:64 --lr 1e-3 --epochs 100 --plot curves.png
      descend fit prices.csv --target price --model linear --json fit.json
      descend fit line --optimizer gd --lr auto --batch-size full
      descend fit moons --model mlp:16 --lr 0.01 --epochs 60 --boundary moons.gif
      descend fit iris --epochs 50 --checkpoint run1
      descend fit iris --epochs 100 --resume run1
    """
    # Everything the user typed, checked before any data is read.
    check_output(plot, "--plot", ".png")
    if boundary is not None and not boundary.lower().endswith((".png", ".gif")):
        raise InputError(f"--boundary must name a .png or .gif file, got {boundary!r}")
    check_output(boundary, "--boundary", None)
    check_output(json_path, "--json", None)
    spec = parse_model(model_spec)
    linear_model = spec is None or spec[0] != "mlp"  # the defaults are linear models
    if optimizer is None:
        optimizer = "gd" if linear_model else "adam"
    factory = optimizer_factory(optimizer)
    if lr_text is None:
        lr_text = "auto" if factory.__name__ in ("gd", "momentum", "nesterov") else "1e-3"
    lr = parse_lr(lr_text)
    batch_size = parse_batch_size(batch_text or ("full" if linear_model else "32"))
    if early_stopping is not None and val == 0:
        raise InputError("--early-stopping needs a validation part: --val > 0")
    check_checkpoint(checkpoint)
    header = check_resume(resume)
    if header is not None and seed is not None and seed != header.get("seed"):
        raise InputError(
            f"--seed {seed} differs from the seed of the checkpoint in {resume!r} "
            f"({header.get('seed')}); leave --seed out to keep it"
        )
    seed = seed if seed is not None else int((header or {}).get("seed") or 0)

    data = load_data(data_source, target, task)
    if boundary is not None and not (data.is_classification and data.n_features == 2):
        raise InputError(
            f"--boundary draws two features and classes; {data.name} has "
            f"{data.n_features} features" + ("" if data.is_classification else " and no classes")
        )
    model, how = make_model(spec, data, l2, activation)
    (train, valid, tst), note = split_data(data, val, test, seed)
    if early_stopping is not None and valid is None:
        raise InputError(
            f"--early-stopping needs a validation part; {data.name} has {len(data)} rows: "
            "give --val (e.g. --val 0.2)"
        )
    if batch_size is not None and batch_size > len(train):
        raise InputError(
            f"--batch-size {batch_size} is more than the {len(train)} training rows; "
            f"use at most {len(train)}, or 'full'"
        )
    if header is not None:
        check_same_fit(header, resume, model, data, train, batch_size, float64)
    import descend as ds

    from .report import lr_text as rate_text

    opt = factory(lr)
    con = out()
    con.print(f"data      {_describe_data(data, train, valid, tst, seed)}", soft_wrap=True)
    if note:
        con.print(f"          {note}", soft_wrap=True)
    con.print(f"model     {model!r}" + (f" ({how})" if how else ""), soft_wrap=True)
    batch = "full batch" if batch_size is None else f"batch size {batch_size}"
    rate = "learning rate auto" if lr == "auto" else f"learning rate {rate_text(lr)}"
    stop = f", early stopping after {early_stopping}" if early_stopping else ""
    con.print(
        f"optimizer {factory.__name__}, {rate}, {batch}, up to {epochs} epochs{stop}"
        + (", float64" if float64 else ""),
        soft_wrap=True,
    )
    if header is not None:
        con.print(f"resume    {resume}: from epoch {header.get('epoch')}", soft_wrap=True)
    if checkpoint is not None:
        check_folder(checkpoint, "--checkpoint")  # made now, when the fit starts
    t0 = time.perf_counter()
    result = ds.fit(
        model,
        train,
        opt,
        batch_size=batch_size,
        epochs=epochs,
        validation=valid,
        early_stopping=early_stopping,
        seed=seed,
        dtype="float64" if float64 else "float32",
        checkpoint=checkpoint,
        resume=resume,
        progress=want_progress(progress),
        record_params=bool(boundary and boundary.lower().endswith(".gif")),
    )
    elapsed = time.perf_counter() - t0
    summary = summarize(result, {"train": train, "validation": valid, "test": tst})
    chosen = result.learning_rate  # a LearningRateChoice for --lr auto, else None
    if chosen is not None:
        con.print(f"learning rate {chosen}", soft_wrap=True)
    print_summary(con, result, summary, elapsed)
    if json_path:
        from .report import write_json

        meta = {
            "data": _data_dict(data, train, valid, tst, seed, data_source),
            "model": repr(model),
            "optimizer": factory.__name__,
            "learning_rate": lr if chosen is None else chosen.value,
            "learning_rate_rule": "given" if chosen is None else chosen.rule,
            "batch_size": batch_size,
            "options": {
                "epochs": epochs,
                "l2": l2,
                "early_stopping": early_stopping,
                "seed": seed,
                "dtype": "float64" if float64 else "float32",
                "checkpoint": checkpoint,
                "resume": resume,
            },
        }
        write_json(json_path, fit_dict(result, summary, elapsed, meta))
        con.print(f"wrote {json_path}")
    if plot:
        import matplotlib.pyplot as plt

        pl = load_plot()
        fig = pl.learning_curves(result)
        pl.save(fig, plot)
        plt.close(fig)
        con.print(f"wrote {plot}")
    if boundary:
        import matplotlib.pyplot as plt

        pl = load_plot()
        if boundary.lower().endswith(".gif"):
            pl.animate_boundary(result, train, boundary)
        else:
            fig = pl.decision_boundary(result, train)
            pl.save(fig, boundary)
            plt.close(fig)
        con.print(f"wrote {boundary}")
    return EXIT_INTERRUPTED if result.status.value == "interrupted" else 0


# --------------------------------------------------------------------------- reporting
def _describe_data(data: Any, train: Any, valid: Any, tst: Any, seed: int) -> str:
    if data.is_classification:
        what = f"{data.n_classes} classes"
    else:
        what = f"regression of {data.target_name!r}"
    parts = [f"train {len(train)}"]
    parts += [f"validation {len(valid)}"] if valid is not None else []
    parts += [f"test {len(tst)}"] if tst is not None else []
    return (
        f"{data.name}: {len(data)} rows x {data.n_features} "
        f"feature{'s' if data.n_features != 1 else ''}, {what}; "
        f"{', '.join(parts)} (seed {seed}; standardized by the train part)"
    )


def _data_dict(data: Any, train: Any, valid: Any, tst: Any, seed: int, source: str) -> dict:
    return {
        "source": source,
        "name": data.name,
        "rows": len(data),
        "features": list(data.feature_names),
        "target": data.target_name,
        "task": data.task,
        "classes": None if data.classes is None else [_plain(c) for c in data.classes],
        "train": len(train),
        "validation": len(valid) if valid is not None else 0,
        "test": len(tst) if tst is not None else 0,
        "split_seed": seed,
    }


def _plain(v: Any) -> Any:
    return v if isinstance(v, (str, int, float, bool)) or v is None else str(v)


def _best_epoch(result: Any) -> int:
    """The epoch with the lowest validation loss (the restored one with early stopping);
    0 without validation."""
    import numpy as np

    if result.best_epoch:
        return int(result.best_epoch)
    v = result.history.val_loss
    if v is None or not len(v) or not np.isfinite(v).any():
        return 0
    return int(np.nanargmin(np.where(np.isfinite(v), v, np.nan))) + 1


def summarize(result: Any, parts: dict[str, Any]) -> dict[str, Any]:
    """The numbers the table and the JSON file share."""
    h = result.history
    metric = "accuracy" if result.model.is_classifier else "r2"
    curve = h.val_accuracy if metric == "accuracy" else h.val_r2
    n = len(h)
    last = {
        "epoch": n,
        "train_loss": float(h.train_loss[-1]) if n else None,
        "val_loss": float(h.val_loss[-1]) if n and h.val_loss is not None else None,
        "val_metric": float(curve[-1]) if n and curve is not None else None,
    }
    best_epoch = _best_epoch(result)
    best = None
    if best_epoch:
        i = best_epoch - 1
        best = {
            "epoch": best_epoch,
            "train_loss": float(h.train_loss[i]),
            "val_loss": float(h.val_loss[i]),
            "val_metric": float(curve[i]) if curve is not None else None,
        }
    # The epoch whose parameters came back: the restored best one, the last one, or
    # (after nan or inf) an earlier one the message names.
    if result.best_epoch:
        params_epoch: int | None = int(result.best_epoch)
    elif result.status.value == "nonfinite":
        params_epoch = None
    else:
        params_epoch = n
    scores = {}
    for name, part in parts.items():
        if part is not None:
            numbers = {k: float(v) for k, v in result.evaluate(part).items()}
            scores[name] = {"rows": len(part), **numbers}
    return {
        "metric": metric,
        "last": last,
        "best": best,
        "params_epoch": params_epoch,
        "evaluation": scores,
    }


def print_summary(con: Any, result: Any, summary: dict[str, Any], elapsed: float) -> None:
    from .report import num, table

    if result.success:
        verdict = "success"
    else:
        verdict = "cut short" if result.status.value in ("interrupted", "stopped") else "failed"
    steps = f"{result.steps} step{'s' if result.steps != 1 else ''}"
    best = summary["best"]
    epochs = f"{result.epochs} ({steps})"
    if best:
        restored = ", parameters restored" if result.best_epoch else ""
        epochs += f"; best epoch {best['epoch']} (lowest validation loss{restored})"
    rows = [
        ("status", f"{result.status.value} ({verdict})"),
        ("message", result.message),
        ("epochs", epochs),
        ("time", f"{elapsed:.2f} s ({result.compile_time:.2f} s compiling)"),
    ]
    for k, v in rows:
        con.print(f"{k:<9} {v}", soft_wrap=True)
    metric = "accuracy" if summary["metric"] == "accuracy" else "R^2"

    def cell(v: float | None) -> str:
        return "-" if v is None else num(v, 4)

    t = table("", "epoch", "loss", metric)
    t.columns[0].justify = "left"
    last = summary["last"]
    if best and best["epoch"] == last["epoch"]:
        best = None  # the last epoch is the best: one pair of rows says it
    if last["train_loss"] is not None:
        t.add_row("train, last epoch", str(last["epoch"]), cell(last["train_loss"]), "-")
    if last["val_loss"] is not None:
        t.add_row(
            "validation, last epoch",
            str(last["epoch"]),
            cell(last["val_loss"]),
            cell(last["val_metric"]),
        )
    if best:
        t.add_row("train, best epoch", str(best["epoch"]), cell(best["train_loss"]), "-")
        t.add_row(
            "validation, best epoch",
            str(best["epoch"]),
            cell(best["val_loss"]),
            cell(best["val_metric"]),
        )
    test = summary["evaluation"].get("test")
    if test is not None:
        epoch = summary["params_epoch"]
        t.add_row(
            f"test ({test['rows']} rows)",
            "-" if epoch is None else str(epoch),
            cell(test["loss"]),
            cell(test[summary["metric"]]),
        )
    con.print(t)


def fit_dict(result: Any, summary: dict[str, Any], elapsed: float, meta: dict[str, Any]) -> dict:
    """The fit as plain data for --json: settings, summary, evaluation and history."""
    from .report import _column, _finite

    def clean(d: Any) -> Any:
        if isinstance(d, dict):
            return {k: clean(v) for k, v in d.items()}
        if isinstance(d, float):
            return _finite(d)
        return d

    h = result.history
    history: dict[str, Any] = {"epoch": [int(e) for e in h.epoch]}
    for name in ("train_loss", "val_loss", "val_accuracy", "val_r2", "grad_norm", "batch_loss"):
        a = getattr(h, name)
        if a is not None:
            history[name] = _column(a)
    return {
        **meta,
        "status": result.status.value,
        "success": bool(result.success),
        "message": result.message,
        "epochs": int(result.epochs),
        "steps": int(result.steps),
        "best_epoch": summary["best"]["epoch"] if summary["best"] else None,
        "params_epoch": summary["params_epoch"],
        "time": _finite(elapsed),
        "compile_time": _finite(result.compile_time),
        "last": clean(summary["last"]),
        "best": clean(summary["best"]),
        "evaluation": clean(summary["evaluation"]),
        "history": history,
    }
