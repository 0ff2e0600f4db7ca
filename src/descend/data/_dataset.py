"""A data set: features X, a target y, and what it is (classes or a number to predict).

Plain numpy arrays, checked once when the set is made, so that every later step
(splitting, scaling, training) can trust them.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

__all__ = ["Dataset", "Scaler", "align", "check_arrays", "classes_of"]

CLASSIFICATION = "classification"
REGRESSION = "regression"
# A numeric target with at most this many distinct integer values is taken as classes.
MAX_INFERRED_CLASSES = 20


@dataclasses.dataclass(frozen=True)
class Scaler:
    """Standardization fitted on the training part: ``(X - mean) / scale``."""

    mean: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, X: np.ndarray) -> Scaler:
        scale = X.std(axis=0)
        # A constant column stays as it is (centred): dividing by 0 would make nan.
        return cls(X.mean(axis=0), np.where(scale > 0, scale, 1.0))

    def transform(self, X: np.ndarray) -> np.ndarray:
        return (X - self.mean) / self.scale


@dataclasses.dataclass(frozen=True, eq=False)
class Dataset:
    """Features ``X`` (n x d, float64) and target ``y`` (n,).

    For classification ``y`` holds class indices ``0 .. k-1`` and ``classes`` the
    original labels (``classes[y[i]]``); for regression ``y`` is float64 and
    ``classes`` is None. ``scaler`` is the standardization applied to X (fitted on a
    training part by :meth:`split`), or None.
    """

    X: np.ndarray
    y: np.ndarray
    task: str
    classes: tuple | None = None
    feature_names: tuple[str, ...] = ()
    target_name: str = "y"
    name: str = "data"
    scaler: Scaler | None = None

    def on_device(self, dtype: Any) -> tuple[Any, Any]:
        """``(X, y)`` as JAX arrays (X in ``dtype``; class indices int32), made once per
        dtype and kept with the set (it is immutable)."""
        import jax.numpy as jnp

        key = np.dtype(dtype).name
        if key not in self._device:
            labels = jnp.int32 if self.is_classification else dtype
            # numpy casts first: one copy to the device, in its final dtype
            X = jnp.asarray(np.asarray(self.X, dtype))
            self._device[key] = (X, jnp.asarray(np.asarray(self.y, labels)))
        return self._device[key]

    def __post_init__(self) -> None:
        object.__setattr__(self, "_device", {})
        # Read-only views: the device copy must not go stale behind an edit in place.
        for name in ("X", "y"):
            view = np.asarray(getattr(self, name)).view()
            view.flags.writeable = False
            object.__setattr__(self, name, view)
        if not self.feature_names:
            names = tuple(f"x{i}" for i in range(self.X.shape[1]))
            object.__setattr__(self, "feature_names", names)

    def __len__(self) -> int:
        return int(self.X.shape[0])

    @property
    def n_features(self) -> int:
        return int(self.X.shape[1])

    @property
    def n_classes(self) -> int | None:
        return None if self.classes is None else len(self.classes)

    @property
    def is_classification(self) -> bool:
        return self.task == CLASSIFICATION

    def __repr__(self) -> str:
        what = f"{self.n_classes} classes" if self.is_classification else "regression"
        scaled = ", standardized" if self.scaler is not None else ""
        return (
            f"Dataset({self.name!r}: {len(self)} samples x {self.n_features} features, "
            f"{what}, target {self.target_name!r}{scaled})"
        )

    def take(self, index: np.ndarray) -> Dataset:
        """The rows ``index`` (same classes, names and scaler)."""
        return dataclasses.replace(self, X=self.X[index], y=self.y[index])

    def part(self, index: int | None = None, count: int | None = None) -> Dataset:
        """Process ``index``'s block of ``count`` blocks of consecutive rows (sizes
        equal up to one; by default this process's of all processes, see
        :mod:`descend.distributed`): its own rows for ``ds.fit(..., local_rows=True)``."""
        if index is None or count is None:
            import jax

            index = jax.process_index() if index is None else index
            count = jax.process_count() if count is None else count
        for name, v, low in (("count", count, 1), ("index", index, 0)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
                raise TypeError(f"{name} must be a whole number, got {type(v).__name__} {v!r}")
            if v < low:
                raise ValueError(f"{name} must be >= {low}, got {v}")
        if index >= count:
            raise ValueError(f"index must be below count ({count}), got {index}")
        n = len(self)
        start = index * (n // count) + min(index, n % count)
        return self.take(np.arange(start, start + n // count + (index < n % count)))

    def scaled(self, scaler: Scaler | None) -> Dataset:
        """X standardized by ``scaler`` (None: unchanged)."""
        if scaler is None:
            return self
        return dataclasses.replace(self, X=scaler.transform(self.X), scaler=scaler)

    def split(
        self, val: float = 0.0, test: float = 0.0, *, seed: int = 0, scale: bool = True
    ) -> tuple[Dataset, ...]:
        """``(train, val, test)`` parts, leaving out a part whose fraction is 0.

        Classes are stratified (each part gets each class's share, rounded); the rows
        are drawn from ``numpy.random.default_rng(seed)``, so a seed gives the same
        split everywhere. With ``scale`` every part is standardized by the training
        part's mean and standard deviation (the other parts never inform the scaling).
        """
        from .._checks import check_int, check_real

        val = check_real(val, "val", low=0, high=1, high_open=True, what="in [0, 1)")
        test = check_real(test, "test", low=0, high=1, high_open=True, what="in [0, 1)")
        if val + test >= 1:
            raise ValueError(
                f"val + test must be below 1 (some rows to train on), got {val + test:g}"
            )
        seed = check_int(seed, "seed", 0)
        rng = np.random.default_rng(seed)
        groups = (
            [np.flatnonzero(self.y == c) for c in range(self.n_classes or 0)]
            if self.is_classification
            else [np.arange(len(self))]
        )
        parts: list[list[np.ndarray]] = [[], [], []]
        for c, rows in enumerate(groups):
            rows = rng.permutation(rows)
            n_test = int(round(len(rows) * test))
            n_val = int(round(len(rows) * val))
            counts = {"train": len(rows) - n_test - n_val, "val": n_val, "test": n_test}
            wanted = {"train": True, "val": val > 0, "test": test > 0}
            for part, n in counts.items():
                if wanted[part] and n < 1:
                    where = (
                        f"class {self.classes[c]!r} ({len(rows)} samples)"
                        if self.is_classification
                        else f"the data ({len(rows)} samples)"
                    )
                    raise ValueError(
                        f"the split leaves {where} with no {part} samples "
                        f"(val={val:g}, test={test:g}): use a larger fraction or more data"
                    )
            parts[0].append(rows[: counts["train"]])
            parts[1].append(rows[counts["train"] : counts["train"] + n_val])
            parts[2].append(rows[counts["train"] + n_val :])
        index = [np.sort(np.concatenate(p)) for p in parts]
        train = self.take(index[0])
        scaler = Scaler.fit(train.X) if scale else None
        out = [train.scaled(scaler)]
        out += [self.take(index[1]).scaled(scaler)] if val > 0 else []
        out += [self.take(index[2]).scaled(scaler)] if test > 0 else []
        return tuple(out)


def classes_of(y: np.ndarray, name: str, task: str | None) -> tuple[str, np.ndarray, tuple | None]:
    """``(task, y as fitted, classes)``: class indices and labels, or float targets.

    Strings or booleans are classes; numbers are classes when ``task`` says so or
    when they are at most ``MAX_INFERRED_CLASSES`` distinct integers, each in two rows
    or more on average.
    """
    y = np.asarray(y)
    if task not in (None, CLASSIFICATION, REGRESSION):
        raise ValueError(f"task must be 'classification' or 'regression', got {task!r}")
    numeric = y.dtype.kind in "iuf"
    if task == REGRESSION:
        if not numeric:
            raise ValueError(f"{name}: a regression target must be numbers, got {y.dtype} labels")
        return REGRESSION, y.astype(np.float64), None
    if numeric and y.dtype.kind == "f":
        integral = bool(np.all(np.isfinite(y)) and np.all(y == np.round(y)))
        if task == CLASSIFICATION and not integral:
            bad = int(np.flatnonzero(~np.isfinite(y) | (y != np.round(y)))[0])
            raise ValueError(
                f"{name}: labels must be classes (integers or strings), "
                f"got {y[bad].item()!r} at row {bad}"
            )
        if task is None and not (integral and _few(y)):
            return REGRESSION, y.astype(np.float64), None
    elif numeric and task is None and not _few(y):
        return REGRESSION, y.astype(np.float64), None
    labels, codes = np.unique(y, return_inverse=True)
    if len(labels) < 2:
        raise ValueError(f"{name}: classification needs at least 2 classes, got {len(labels)}")
    labels = tuple(x.item() if isinstance(x, np.generic) else x for x in labels)
    return CLASSIFICATION, codes.astype(np.int32).reshape(-1), labels


def _few(y: np.ndarray) -> bool:
    """Few enough distinct values to be classes: at most MAX_INFERRED_CLASSES, and at
    least two rows a value on average (12 prices in 12 rows are not 12 classes)."""
    k = len(np.unique(y))
    return k <= MAX_INFERRED_CLASSES and 2 * k <= len(y)


def check_arrays(X: Any, y: Any, feature_names: tuple[str, ...] = ()) -> tuple[np.ndarray, Any]:
    """X as a finite float64 matrix and y as an array of the same length, or a clear error."""
    X = np.asarray(X)
    if X.ndim == 1:
        X = X[:, None]
    if X.ndim != 2:
        raise ValueError(f"X must be a 2-D array (samples x features), got shape {X.shape}")
    if X.dtype.kind not in "biuf":
        raise TypeError(f"X must hold numbers, got dtype {X.dtype}")
    X = X.astype(np.float64)
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise ValueError(f"y must be 1-D (one target per sample), got shape {y.shape}")
    if len(X) != len(y):
        raise ValueError(f"X has {len(X)} rows but y has {len(y)}: they must match")
    if len(X) == 0:
        raise ValueError("the data has no rows")
    bad = ~np.isfinite(X)
    if bad.any():
        rows, cols = np.nonzero(bad)
        col = feature_names[cols[0]] if feature_names else f"column {cols[0]}"
        raise ValueError(
            f"X has {int(bad.sum())} NaN or inf values; the first at row {rows[0]} ({col})"
        )
    if y.dtype.kind == "f" and not np.all(np.isfinite(y)):
        rows = np.flatnonzero(~np.isfinite(y))
        raise ValueError(f"y has {len(rows)} NaN or inf values; the first at row {rows[0]}")
    return X, y


def align(data: Any, task: str, classes: tuple | None, name: str) -> Dataset:
    """``data`` (a Dataset or ``(X, y)``) read as the same task and classes as a model
    trained with them: labels are mapped to those classes' indices, never inferred anew
    (a validation set of 15 rows must not decide on its own that it is a regression)."""
    if isinstance(data, Dataset):
        X, labels = data.X, data.y
        if data.classes is not None:
            labels = np.asarray(data.classes, dtype=object)[data.y]
    elif isinstance(data, tuple) and len(data) == 2:
        X, labels = check_arrays(*data)
    else:
        raise TypeError(f"{name} must be a ds.data Dataset or (X, y), got {type(data).__name__}")
    if task == REGRESSION:
        if np.asarray(labels).dtype.kind not in "biuf":
            raise ValueError(
                f"{name}: the model predicts numbers; got {np.asarray(labels).dtype} labels"
            )
        y = np.asarray(labels, np.float64)
    else:
        index = {c: i for i, c in enumerate(classes)}
        values = np.asarray(labels).tolist()
        unknown = [v for v in values if v not in index]
        if unknown:
            raise ValueError(
                f"{name}: label {unknown[0]!r} is not one of the classes trained on "
                f"({', '.join(map(repr, classes))})"
            )
        y = np.array([index[v] for v in values], np.int32)
    if isinstance(data, Dataset) and data.classes == classes and data.task == task:
        return data  # already aligned: keeps its device copy
    return dataclasses.replace(
        data if isinstance(data, Dataset) else Dataset(X, y, task, classes, name=name),
        y=y,
        task=task,
        classes=classes,
    )
