"""The explorer: gradient descent in the browser, served from this machine.

``descend explore`` (or :func:`serve`) starts a small web server on 127.0.0.1 and opens
its page: pick a built-in function or type a formula, see its contour map, click a
start, pick optimizers, move a log learning-rate slider against gradient descent's
2/L edge at the start, and watch the paths and loss curves, the gradient arrows and
the basins of attraction. Everything the page shows comes from descend's public API
through a small JSON API (:mod:`descend.explore.api`, documented there), and every
file it loads is served locally.

* :func:`create_app` builds the Starlette app (for tests, or to mount elsewhere);
* :func:`serve` runs it with uvicorn until Ctrl-C;
* :mod:`descend.explore.api` holds the API as pure functions (a request's dict in, a
  response's dict out), so benchmarks and tests can call them in-process.

Nothing in descend's core imports this package: ``import descend`` stays light, and
starlette and uvicorn load only here.

Speed: descend compiles a loop once per function and optimizer family (about 0.1 s
each) and reuses it for any learning rate, start or hyperparameter, so moving the
slider or clicking a new start answers 5 optimizers x 1,000 steps in a few
milliseconds. The built-in functions are compiled in the background at start-up; a
newly typed formula compiles its optimizers side by side on first use. One request
compiles at a time (others wait up to 2 s, then get 429).
"""

from __future__ import annotations

from typing import Any

__all__ = ["create_app", "serve"]


def create_app(**options: Any) -> Any:
    """The explorer's Starlette app (see :func:`descend.explore.app.create_app`)."""
    from .app import create_app as make

    return make(**options)


def serve(
    host: str = "127.0.0.1", port: int | None = None, open_browser: bool = True, **options: Any
) -> None:
    """Serve the explorer until Ctrl-C (see :func:`descend.explore.app.serve`)."""
    from .app import serve as run

    run(host, port, open_browser, **options)
