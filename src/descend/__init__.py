"""descend: gradient descent you can see and use for real.

``import descend`` is cheap: JAX and optax load when a function first needs them.
Computations run in float64 by default (set ``DESCEND_X64=0`` before importing to keep
JAX's float32 default); float32 inputs stay float32. Importing descend before the
first JAX computation also lets XLA:CPU compile small loops into one kernel (see
``SMALL_LOOP_BYTES``; ``DESCEND_XLA_FLAGS=0`` leaves ``XLA_FLAGS`` alone).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._env import SMALL_LOOP_BYTES, enable_x64, set_xla_flags  # noqa: F401 - documented

__version__ = "0.1.0"

enable_x64()
set_xla_flags()

# public name -> submodule that defines it
_EXPORTS = {
    "minimize": "_minimize",
    "minimize_batch": "_batch",
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
    "fit": "_fit",
    "FitResult": "_fit",
    "FitHistory": "_fit",
}
# submodules reachable as attributes: ds.functions.get("rosenbrock")
_SUBMODULES = ("functions", "plot", "data", "models", "distributed")

__all__ = [
    "BatchResult",
    "FitHistory",
    "FitResult",
    "basins",
    "check_grad",
    "classify",
    "convexity",
    "data",
    "distributed",
    "fit",
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
    "models",
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
    from . import data, distributed, functions, models, plot
    from ._batch import minimize_batch
    from ._fit import FitHistory, FitResult, fit
    from ._minimize import minimize
    from .calculus import check_grad, classify, grad, hessian, partials
    from .functions import parse
    from .landscape import basins, convexity, multistart, suggest_learning_rate
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
