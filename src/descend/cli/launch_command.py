"""``descend launch -n N -- COMMAND...``: run COMMAND as N cooperating local processes.

A thin layer over :func:`descend.launch.launch` (see :mod:`descend.launch` for what
each process gets and how failures, timeouts and Ctrl-C end them). Bad options end as
one line ``descend: error: ...`` and exit 2; the exit status is otherwise the failing
process's (124 after ``--timeout``). Only click is imported at module level.
"""

from __future__ import annotations

import click

from .commands import cli
from .inputs import InputError


@cli.command(context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.option(
    "-n",
    "--nproc",
    "n",
    type=click.IntRange(min=1),
    required=True,
    help="How many processes to start.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Seconds before all processes are stopped (exit status 124). Default: none.",
)
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
def launch(n: int, timeout: float | None, command: tuple[str, ...]) -> int:
    """Run COMMAND as N processes on this machine that find each other: each gets
    DESCEND_COORDINATOR (a free loopback port), DESCEND_NUM_PROCESSES and
    DESCEND_PROCESS_ID, read by descend.distributed.initialize(), and one CPU device
    (JAX_NUM_CPU_DEVICES=1) unless set.

    Output comes back prefixed with the process number, [0] ... [N-1]. If a process
    fails, the others are stopped and its exit status is returned.

    Example: descend launch -n 2 -- python train.py
    """
    from descend.launch import launch as run

    args = list(command)
    if args[:1] == ["--"]:
        args = args[1:]
    if not args:
        raise InputError("launch: no command given (e.g. descend launch -n 2 -- python train.py)")
    try:
        return run(n, args, timeout=timeout)
    except OSError as e:
        raise InputError(f"launch: cannot start {args[0]!r}: {e.strerror or e}") from None
