"""Pictures of gradient descent: contours with paths, loss curves, surfaces, basins,
learning-rate comparisons and GIFs; and of learning from data (:func:`descend.fit`):
learning curves, the paths of full-batch, mini-batch and stochastic gradient descent
over a regression's loss, and decision boundaries.

Every function returns a matplotlib Figure (``animate`` and ``animate_boundary`` return
the GIF's path) and takes ``ax=`` (or ``axes=``) to draw into your own figure. Functions
may be given as a callable, a built-in name (``"himmelblau"``) or a formula (``"x**2 + 3*y**2"``).

This subpackage is the only part of descend that imports matplotlib; ``import descend``
never does. Without a display and without a backend chosen by you (``MPLBACKEND``,
``matplotlibrc``, ``matplotlib.use``), the Agg backend is used, so pictures render on
servers and in CI.

Example:
  >>> import descend as ds, descend.plot as dp
  >>> res = ds.minimize("rosenbrock", [-1.5, 2.0], ds.adam(0.05), max_steps=3000)
  >>> dp.save(dp.contour("rosenbrock", res), "rosenbrock.png")
"""

from __future__ import annotations

import os
import sys


def _choose_backend() -> None:
    """Agg when nobody chose a backend and there is no display to show windows on."""
    import matplotlib

    if os.environ.get("MPLBACKEND") or "matplotlib.pyplot" in sys.modules:
        return
    try:
        chosen = matplotlib.rcParams._get_backend_or_none()  # None: not set anywhere
    except AttributeError:  # older matplotlib: leave the choice to it
        return
    if chosen is not None:
        return
    headless = sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    )
    if headless:
        matplotlib.use("Agg")


_choose_backend()

from ._animate import animate  # noqa: E402
from ._basins import basins  # noqa: E402
from ._common import PATH_COLORS, save  # noqa: E402
from ._curves import loss_curves, sweep, trajectories  # noqa: E402
from ._field import contour, learning_rates, slice_path  # noqa: E402
from ._fit import (  # noqa: E402
    animate_boundary,
    decision_boundary,
    learning_curves,
    regression_paths,
)
from ._surface import surface  # noqa: E402

__all__ = [
    "PATH_COLORS",
    "animate",
    "animate_boundary",
    "basins",
    "contour",
    "decision_boundary",
    "learning_curves",
    "learning_rates",
    "loss_curves",
    "regression_paths",
    "save",
    "slice_path",
    "surface",
    "sweep",
    "trajectories",
]
