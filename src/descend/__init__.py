"""descend: gradient descent you can see and use for real.

``import descend`` is cheap: JAX and optax load when a function first needs them.
Computations run in float64 by default (set ``DESCEND_X64=0`` before importing to keep
JAX's float32 default); float32 inputs stay float32. Importing descend before the
first JAX computation also lets XLA:CPU compile small loops into one kernel (see
``SMALL_LOOP_BYTES``; ``DESCEND_XLA_FLAGS=0`` leaves ``XLA_FLAGS`` alone).
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"


def _enable_x64() -> None:
    if os.environ.get("DESCEND_X64", "1").strip().lower() in ("0", "false", "no", "off"):
        return
    if "jax" in sys.modules:
        sys.modules["jax"].config.update("jax_enable_x64", True)
    else:
        # Read by JAX when it is first imported, by us or by the user.
        os.environ.setdefault("JAX_ENABLE_X64", "1")


# XLA:CPU compiles a while loop into one kernel only while one iteration touches
# under 1 KiB; above that every operation is a separate kernel launch (~50 ns each).
# descend's loop for a 3-parameter adam run with its history is just above, and
# runs 8x slower per step than under the limit; 64 KiB keeps small problems' loops
# (up to a few hundred parameters) in one kernel, while large ones, which need the
# per-operation threads, stay as they are.
SMALL_LOOP_BYTES = 65536


def _xla_flags() -> None:
    if os.environ.get("DESCEND_XLA_FLAGS", "1").strip().lower() in ("0", "false", "no", "off"):
        return
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_backend_extra_options" in flags:
        return  # the user's own options: leave them alone
    # Read when JAX first creates its CPU backend (the first computation).
    option = (
        f"--xla_backend_extra_options=xla_cpu_small_while_loop_byte_threshold={SMALL_LOOP_BYTES}"
    )
    os.environ["XLA_FLAGS"] = f"{flags} {option}".strip()


_enable_x64()
_xla_flags()

# public name -> submodule that defines it
_EXPORTS = {
    "minimize": "loop",
    "minimize_batch": "batch",
    "Result": "result",
    "History": "result",
    "BatchResult": "result",
    "Status": "stopping",
    "gd": "optimizers",
    "momentum": "optimizers",
    "nesterov": "optimizers",
    "adagrad": "optimizers",
    "rmsprop": "optimizers",
    "adam": "optimizers",
    "adamw": "optimizers",
    "get_optimizer": "optimizers",
    "OPTIMIZERS": "optimizers",
    "grad": "calculus",
    "hessian": "calculus",
    "partials": "calculus",
    "check_grad": "calculus",
    "classify": "calculus",
    "parse": "functions",
    "multistart": "landscape",
    "basins": "landscape",
    "suggest_learning_rate": "landscape",
    "convexity": "landscape",
}
# submodules reachable as attributes: ds.functions.get("rosenbrock")
_SUBMODULES = ("functions", "plot")

__all__ = [
    "BatchResult",
    "basins",
    "check_grad",
    "classify",
    "convexity",
    "functions",
    "grad",
    "hessian",
    "multistart",
    "parse",
    "partials",
    "plot",
    "suggest_learning_rate",
    "History",
    "OPTIMIZERS",
    "Result",
    "Status",
    "__version__",
    "adagrad",
    "adam",
    "adamw",
    "gd",
    "get_optimizer",
    "minimize",
    "minimize_batch",
    "momentum",
    "nesterov",
    "rmsprop",
]


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'descend' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:  # pragma: no cover - names for type checkers and IDEs
    from . import functions, plot
    from .batch import minimize_batch
    from .calculus import check_grad, classify, grad, hessian, partials
    from .functions import parse
    from .landscape import basins, convexity, multistart, suggest_learning_rate
    from .loop import minimize
    from .optimizers import (
        OPTIMIZERS,
        adagrad,
        adam,
        adamw,
        gd,
        get_optimizer,
        momentum,
        nesterov,
        rmsprop,
    )
    from .result import BatchResult, History, Result
    from .stopping import Status
