"""Checkpoints: one ``.npz`` file holding arrays and a JSON header with a version number.

A checkpoint is ``DIR/checkpoint.npz``. It is written to a temporary file in the same
directory, flushed to disk, then renamed over the old one (``os.replace`` is atomic on
POSIX and Windows), so an interrupted save leaves the last good checkpoint whole. The
arrays are the training state's leaves in a fixed order, with their dtypes, so a resumed
run continues from bit-identical numbers; nothing is pickled, so loading a file runs no
code from it.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["FORMAT", "VERSION", "save", "load", "path_of"]

FORMAT = "descend-fit-checkpoint"
VERSION = 1
FILE = "checkpoint.npz"


def path_of(directory: Any) -> Path:
    """``DIR/checkpoint.npz`` (the file itself may be named too)."""
    path = Path(directory)
    return path if path.name == FILE else path / FILE


def save(directory: Any, header: dict, arrays: dict[str, np.ndarray]) -> Path:
    """Write ``arrays`` and ``header`` (JSON-able) to ``DIR/checkpoint.npz`` atomically."""
    directory = path_of(directory).parent
    directory.mkdir(parents=True, exist_ok=True)
    head = json.dumps({"format": FORMAT, "version": VERSION, **header})
    fd, tmp = tempfile.mkstemp(prefix=".checkpoint-", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, __header__=np.asarray(head), **arrays)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path_of(directory))
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path_of(directory)


def load(directory: Any) -> tuple[dict, dict[str, np.ndarray]]:
    """``(header, arrays)`` of ``DIR/checkpoint.npz``, or a clear error."""
    path = path_of(directory)
    if not path.exists():
        raise FileNotFoundError(f"resume: no checkpoint at {path}")
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        header = json.loads(str(arrays.pop("__header__")))
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:
        raise ValueError(f"resume: {path} is corrupt or not a descend checkpoint ({e})") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ValueError(f"resume: {path} is not a descend fit checkpoint")
    if header.get("version") != VERSION:
        raise ValueError(
            f"resume: {path} has checkpoint version {header.get('version')}; "
            f"this descend reads version {VERSION}"
        )
    return header, arrays
