"""Data sets to learn from: scikit-learn's bundled sets, teaching sets, CSV files, arrays.

>>> import descend as ds
>>> data = ds.data.load("digits")
>>> train, val, test = data.split(val=0.15, test=0.15, seed=0)

Nothing is downloaded: the named sets are the ones scikit-learn ships (``iris``,
``wine``, ``breast_cancer``, ``digits``, ``diabetes``) or are generated from a seed
(``moons``, ``circles``, ``line``: a 1-feature regression ``y = 3 x + 2 + noise``).
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ._dataset import (
    CLASSIFICATION,
    REGRESSION,
    Dataset,
    Scaler,
    align,
    check_arrays,
    classes_of,
)

__all__ = ["Dataset", "Scaler", "align", "load", "DATASETS", "LINE_SLOPE", "LINE_INTERCEPT"]

# The generated 1-feature regression: y = LINE_SLOPE x + LINE_INTERCEPT + noise.
LINE_SLOPE = 3.0
LINE_INTERCEPT = 2.0


def _sklearn(name: str) -> Callable[..., Dataset]:
    def make() -> Dataset:
        from sklearn import datasets

        bunch = getattr(datasets, f"load_{name}")()
        names = tuple(str(n) for n in bunch.feature_names)
        X, y = check_arrays(bunch.data, bunch.target, names)
        task = REGRESSION if name == "diabetes" else CLASSIFICATION
        task, y, classes = classes_of(y, name, task)
        if classes is not None and hasattr(bunch, "target_names"):
            classes = tuple(np.asarray(bunch.target_names)[int(c)].item() for c in classes)
        return Dataset(X, y, task, classes, names, "target", name)

    make.__doc__ = f"scikit-learn's bundled {name} set (sklearn.datasets.load_{name})."
    return make


def _moons(n_samples: int = 200, noise: float = 0.2, seed: int = 0) -> Dataset:
    """Two interleaving half circles (sklearn.datasets.make_moons)."""
    from sklearn.datasets import make_moons

    X, y = make_moons(n_samples=n_samples, noise=noise, random_state=seed)
    return Dataset(X, y.astype(np.int32), CLASSIFICATION, (0, 1), ("x1", "x2"), "class", "moons")


def _circles(
    n_samples: int = 200, noise: float = 0.1, factor: float = 0.5, seed: int = 0
) -> Dataset:
    """A circle inside another (sklearn.datasets.make_circles)."""
    from sklearn.datasets import make_circles

    X, y = make_circles(n_samples=n_samples, noise=noise, factor=factor, random_state=seed)
    return Dataset(X, y.astype(np.int32), CLASSIFICATION, (0, 1), ("x1", "x2"), "class", "circles")


def _line(n_samples: int = 100, noise: float = 1.0, seed: int = 0) -> Dataset:
    """``y = 3 x + 2 + noise``, x ~ N(0, 1): a known slope and intercept to recover."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n_samples)
    y = LINE_SLOPE * x + LINE_INTERCEPT + noise * rng.normal(size=n_samples)
    return Dataset(x[:, None], y, REGRESSION, None, ("x",), "y", "line")


DATASETS: dict[str, Callable[..., Dataset]] = {
    **{n: _sklearn(n) for n in ("iris", "wine", "breast_cancer", "digits", "diabetes")},
    "moons": _moons,
    "circles": _circles,
    "line": _line,
}


def load(
    source: Any, target: str | None = None, *, task: str | None = None, **options: Any
) -> Dataset:
    """A :class:`Dataset` from a name in ``DATASETS``, a CSV file, or ``(X, y)`` arrays.

    Args:
      source: ``"digits"`` (see ``DATASETS``), a path to a CSV file with a header row,
        or a tuple ``(X, y)``.
      target: the CSV column to predict (default: the last one).
      task: ``"classification"`` or ``"regression"``; by default strings, and up to 20
        distinct integers with two rows or more each on average, are classes; other
        numbers are a regression target.
      options: for the generated sets, e.g. ``n_samples=500, noise=0.3, seed=1``.
    """
    if isinstance(source, tuple):
        if len(source) != 2:
            raise ValueError(f"source as a tuple must be (X, y), got {len(source)} items")
        X, y = check_arrays(*source)
        task, y, classes = classes_of(y, "y", task)
        return Dataset(X, y, task, classes, name=options.get("name", "arrays"))
    if not isinstance(source, (str, os.PathLike)):
        raise TypeError(
            f"source must be a data set name, a CSV path or (X, y), got {type(source).__name__}"
        )
    name = str(source)
    if name in DATASETS:
        if target is not None:
            raise ValueError(f"target applies to CSV files; {name!r} has its own target")
        try:
            data = DATASETS[name](**options)
        except TypeError as e:
            raise TypeError(f"load({name!r}): {e}") from None
        return data if task is None else _with_task(data, task)
    if options:
        raise TypeError(f"options {sorted(options)} apply to the generated sets only")
    path = Path(name)
    if path.suffix.lower() == ".csv" or path.exists():
        return read_csv(path, target, task)
    close = difflib.get_close_matches(name, DATASETS, n=3)
    hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
    raise ValueError(
        f"source {name!r} is neither a data set ({', '.join(DATASETS)}) nor a CSV file{hint}"
    )


def _with_task(data: Dataset, task: str) -> Dataset:
    import dataclasses

    labels = np.asarray(data.classes)[data.y] if data.classes is not None else data.y
    task, y, classes = classes_of(labels, data.name, task)
    return dataclasses.replace(data, y=y, task=task, classes=classes)


def read_csv(path: Path, target: str | None = None, task: str | None = None) -> Dataset:
    """A CSV file with a header row: numeric feature columns and a target column."""
    import csv

    if not path.exists():
        raise FileNotFoundError(f"no such CSV file: {path}")
    # utf-8-sig: a byte-order mark (as spreadsheets write) is not part of the first name
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.reader(fh)
        # (line number in the file, fields); blank lines are skipped, ",," is not
        rows = [(reader.line_num, r) for r in reader if r]
    if len(rows) < 2:
        raise ValueError(f"{path}: needs a header row and at least one data row")
    header = [h.strip() for h in rows[0][1]]
    lines = [n for n, _ in rows[1:]]
    body = [r for _, r in rows[1:]]
    for n, r in zip(lines, body):
        if len(r) != len(header):
            raise ValueError(f"{path}: line {n} has {len(r)} fields, the header has {len(header)}")
    target = header[-1] if target is None else target
    if target not in header:
        same = [h for h in header if h.lower() == target.lower()]
        close = same or difflib.get_close_matches(target, header, n=3, cutoff=0.4)
        hint = f"; closest: {', '.join(map(repr, close))}" if close else ""
        raise ValueError(f"{path}: no column {target!r} (columns: {', '.join(header)}){hint}")
    t = header.index(target)
    columns = [[r[j].strip() for r in body] for j in range(len(header))]
    features = [j for j in range(len(header)) if j != t]
    values, text = [], []
    for j in features:
        col = _numbers(columns[j])
        if col is None:
            text.append(header[j])
        values.append(col)
    if text:
        raise ValueError(
            f"{path}: non-numeric feature columns {', '.join(map(repr, text))}: "
            "drop or encode them as numbers"
        )
    if not features:
        raise ValueError(f"{path}: no feature columns besides the target {target!r}")
    X = np.column_stack(values)
    names = tuple(header[j] for j in features)
    bad = ~np.isfinite(X)
    if bad.any():
        rows_bad, cols_bad = np.nonzero(bad)
        raise ValueError(
            f"{path}: {int(bad.sum())} missing, NaN or inf values; the first at line "
            f"{lines[rows_bad[0]]} (column {names[cols_bad[0]]!r})"
        )
    y_num = _numbers(columns[t])
    y = np.asarray(columns[t]) if y_num is None else y_num
    if y_num is not None and not np.all(np.isfinite(y_num)):
        first = int(np.flatnonzero(~np.isfinite(y_num))[0])
        raise ValueError(
            f"{path}: the target {target!r} has {int((~np.isfinite(y_num)).sum())} missing, "
            f"NaN or inf values; the first at line {lines[first]}"
        )
    X, y = check_arrays(X, y, names)
    task, y, classes = classes_of(y, f"{path}: target {target!r}", task)
    return Dataset(X, y, task, classes, names, target, path.stem)


def _numbers(cells: list[str]) -> np.ndarray | None:
    """The cells as floats (empty cells: nan), or None if any is not a number."""
    out = np.empty(len(cells))
    for i, c in enumerate(cells):
        if c == "":
            out[i] = np.nan
            continue
        try:
            out[i] = float(c)
        except ValueError:
            return None
    return out
