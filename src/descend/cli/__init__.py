"""The ``descend`` command line: run, compare, sweep, landscape, fit, explore, launch, demo,
functions.

``main()`` is the console script. Errors in what the user typed end as one line on
stderr, ``descend: error: ...``, with exit status 2 (set ``DESCEND_DEBUG=1`` to see the
traceback of an error raised by the library instead). Heavy imports (JAX, numpy,
matplotlib) happen inside the commands, so ``descend --help`` is instant.
"""

from __future__ import annotations

import os
import sys

import click

from . import (
    explore_command,  # noqa: F401  (registers 'descend explore')
    fit_command,  # noqa: F401  (registers 'descend fit')
    launch_command,  # noqa: F401  (registers 'descend launch')
)
from .commands import EXIT_INTERRUPTED, cli
from .inputs import InputError

__all__ = ["main", "cli", "InputError"]


def _error(message: str) -> None:
    # One line, whatever the library's message looks like (parser messages may not).
    line = " ".join(part.strip() for part in message.splitlines() if part.strip())
    click.echo(f"descend: error: {line}", err=True)


def _usage_message(e: click.ClickException) -> str:
    msg = e.format_message()
    ctx = getattr(e, "ctx", None)
    if isinstance(e, click.UsageError) and ctx is not None:
        return f"{ctx.command_path}: {msg} (see '{ctx.command_path} --help')"
    return msg


def main(argv: list[str] | None = None) -> int:
    """Run the command line with ``argv`` (default ``sys.argv[1:]``); returns the exit status."""
    try:
        rv = cli.main(args=argv, prog_name="descend", standalone_mode=False)
    except click.ClickException as e:
        _error(_usage_message(e))
        return e.exit_code
    except (click.Abort, KeyboardInterrupt):
        click.echo("descend: interrupted", err=True)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # Output piped into `head` and closed: stop quietly (and keep Python from
        # complaining again when it flushes stdout at exit).
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except (ValueError, TypeError) as e:
        # The library refuses bad input with ValueError/TypeError and a message that
        # names the problem; that message is all the user needs.
        if os.environ.get("DESCEND_DEBUG"):
            raise
        _error(str(e))
        return 2
    except OSError as e:
        _error(f"{e.strerror or e}: {e.filename}" if e.filename else str(e))
        return 1
    return rv if isinstance(rv, int) else 0
