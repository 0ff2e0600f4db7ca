"""``descend explore``: the explorer's web server on this machine, opened in the browser.

A thin layer over :func:`descend.explore.app.serve`. The host and port are tried
before anything else starts, so a port in use or a bad host ends as one line
``descend: error: ...`` and exit 2. Only click is imported at module level
(``descend --help`` stays instant); starlette, uvicorn and JAX load when the command
runs.
"""

from __future__ import annotations

import click

from .commands import cli
from .inputs import InputError


@cli.command()
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on. Anything but loopback (127.0.0.1, localhost, ::1) lets "
    "other machines use the explorer: a warning is printed.",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=None,
    help="Port to listen on; 0 for any free port. Default: 8765, or any free port if "
    "8765 is taken.",
)
@click.option(
    "--browser/--no-browser",
    default=True,
    help="Open the page in the default web browser (default: yes).",
)
def explore(host: str, port: int | None, browser: bool) -> None:
    """Explore gradient descent in the browser: pick a function or type a formula, click
    a start, compare optimizers, move the learning rate against the 2/L edge, and watch
    the paths, loss curves, gradient arrows and basins.

    Prints the page's address (http://127.0.0.1:PORT/) and serves it until Ctrl-C.
    Only this machine can reach it unless --host says otherwise.
    """
    from descend.explore.app import ServeError, serve

    try:
        serve(host, port, open_browser=browser)
    except ServeError as e:
        raise InputError(str(e)) from None
