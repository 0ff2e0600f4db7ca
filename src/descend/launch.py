"""Start N cooperating processes on this machine: ``descend launch -n 2 -- python train.py``.

Each process gets, in its environment:

* ``DESCEND_COORDINATOR=127.0.0.1:PORT`` (a free loopback port, picked here),
  ``DESCEND_NUM_PROCESSES=N`` and ``DESCEND_PROCESS_ID=i`` (0 to N-1), which
  :func:`descend.distributed.initialize` reads;
* ``JAX_NUM_CPU_DEVICES=1`` and ``JAX_PLATFORMS=cpu`` unless already set (one CPU
  device per process: see :mod:`descend.distributed`), and ``PYTHONUNBUFFERED=1``.

Their output comes back line by line, prefixed with the process number (``[1] ...``;
stdout to stdout, stderr to stderr); their stdin is empty. Each runs in its own process
group. When one exits with a non-zero status, the others are stopped (SIGTERM, then
SIGKILL after a grace period, the whole process group each time, so nothing they started
is left behind) and that status is returned, with one line naming the process. A
``timeout`` stops everything with status 124; Ctrl-C (or SIGTERM to the launcher) stops
everything with status 130.

Also runs as ``python -m descend.launch -n 2 [--timeout S] -- COMMAND...``. Only the
standard library is used: JAX is never imported here.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from typing import IO, Any

__all__ = ["EXIT_INTERRUPTED", "EXIT_TIMEOUT", "free_port", "launch", "main"]

EXIT_TIMEOUT = 124  # as timeout(1)
EXIT_INTERRUPTED = 130  # as a shell after Ctrl-C
GRACE = 3.0  # seconds between SIGTERM and SIGKILL
POLL = 0.05
NAME = "descend launch"


class _Terminated(Exception):
    """SIGTERM reached the launcher."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on ``host`` that nothing listens on now (OSError if none can be opened)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _check(n: Any, command: Any, timeout: Any) -> list[str]:
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"n must be a whole number, got {type(n).__name__} {n!r}")
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if isinstance(command, (str, bytes)) or not isinstance(command, Sequence):
        raise TypeError(
            f"command must be a list of strings, e.g. ['python', 'train.py'], got {command!r}"
        )
    if not command or not all(isinstance(a, str) for a in command):
        raise ValueError(
            f"command must be a non-empty list of strings, e.g. ['python', 'train.py'], "
            f"got {list(command)!r}"
        )
    if timeout is not None and (
        isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0
    ):
        raise ValueError(f"timeout must be a number of seconds > 0 or None, got {timeout!r}")
    return list(command)


def _environment(n: int, i: int, port: int, env: Mapping[str, str] | None) -> dict[str, str]:
    out = {**os.environ, **(env or {})}
    out.setdefault("JAX_PLATFORMS", "cpu")
    out.setdefault("JAX_NUM_CPU_DEVICES", "1")
    out.setdefault("PYTHONUNBUFFERED", "1")
    out["DESCEND_COORDINATOR"] = f"127.0.0.1:{port}"
    out["DESCEND_NUM_PROCESSES"] = str(n)
    out["DESCEND_PROCESS_ID"] = str(i)
    return out


def _forward(pipe: IO[bytes], prefix: str, out: IO[str], lock: threading.Lock) -> None:
    """Copy ``pipe`` to ``out`` line by line, each line prefixed."""
    try:
        for raw in iter(pipe.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            with lock:
                try:
                    out.write(f"{prefix}{line}\n")
                    out.flush()
                except (OSError, ValueError):
                    pass  # our own output closed: keep draining the pipe
    finally:
        pipe.close()


def _signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    try:
        if hasattr(os, "killpg"):
            os.killpg(proc.pid, sig)  # the group: what the process started goes too
        elif proc.poll() is None:  # pragma: no cover - not POSIX
            proc.kill() if sig != signal.SIGTERM else proc.terminate()
    except (ProcessLookupError, PermissionError):
        pass


def _stop(procs: list[subprocess.Popen[bytes]], grace: float) -> None:
    """SIGTERM every process group, SIGKILL those still there after ``grace`` seconds."""
    for p in procs:
        _signal_group(p, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for p in procs:
        try:
            p.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
    for p in procs:
        _signal_group(p, getattr(signal, "SIGKILL", signal.SIGTERM))
    for p in procs:
        try:
            p.wait(timeout=grace)
        except subprocess.TimeoutExpired:  # pragma: no cover - unkillable process
            pass


def _status(code: int) -> int:
    """A shell's exit status for a Popen return code (killed by signal s: 128 + s)."""
    return 128 - code if code < 0 else code


def _describe(i: int, code: int) -> str:
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"process {i} was killed by {name}"
    return f"process {i} exited with status {code}"


def _start(
    n: int, command: list[str], env: Mapping[str, str] | None, out: IO[str], err: IO[str]
) -> tuple[list[subprocess.Popen[bytes]], list[threading.Thread]]:
    port = free_port()
    lock = threading.Lock()
    procs: list[subprocess.Popen[bytes]] = []
    threads: list[threading.Thread] = []
    try:
        for i in range(n):
            p = subprocess.Popen(
                command,
                env=_environment(n, i, port, env),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,  # own process group: stopped as a whole
            )
            procs.append(p)
            for pipe, stream in ((p.stdout, out), (p.stderr, err)):
                t = threading.Thread(
                    target=_forward, args=(pipe, f"[{i}] ", stream, lock), daemon=True
                )
                t.start()
                threads.append(t)
    except BaseException:
        _stop(procs, GRACE)
        raise
    return procs, threads


def _watch(procs: list[subprocess.Popen[bytes]], timeout: float | None) -> tuple[int, str | None]:
    """Wait until all exit 0, one fails, or time runs out: (status, message or None)."""
    start = time.monotonic()
    while True:
        codes = [p.poll() for p in procs]
        for i, code in enumerate(codes):
            if code is not None and code != 0:
                still = any(c is None for c in codes)
                tail = "; stopped the others" if still else ""
                return _status(code), f"{_describe(i, code)}{tail}"
        if all(c == 0 for c in codes):
            return 0, None
        if timeout is not None and time.monotonic() - start >= timeout:
            running = [str(i) for i, c in enumerate(codes) if c is None]
            return EXIT_TIMEOUT, (
                f"timed out after {timeout:g} s; stopped process"
                f"{'es' if len(running) > 1 else ''} {', '.join(running)}"
            )
        time.sleep(POLL)


def launch(
    n: int,
    command: Sequence[str],
    *,
    timeout: float | None = None,
    env: Mapping[str, str] | None = None,
    grace: float = GRACE,
    stdout: IO[str] | None = None,
    stderr: IO[str] | None = None,
) -> int:
    """Run ``command`` as ``n`` processes that find each other; returns the exit status.

    ``env`` adds variables (over ``os.environ``) for every process; ``timeout`` (seconds)
    stops them all with status 124; ``grace`` is the wait between SIGTERM and SIGKILL.
    Output goes to ``stdout``/``stderr`` (default: ``sys.stdout``/``sys.stderr``), each
    line prefixed ``[i] ``. 0 when every process exits 0; else the failing process's
    status (128 + signal when killed), after the others are stopped. Raises OSError when
    the command cannot be started (nothing is left running).
    """
    command = _check(n, command, timeout)
    out = stdout if stdout is not None else sys.stdout
    err = stderr if stderr is not None else sys.stderr
    main_thread = threading.current_thread() is threading.main_thread()
    previous = None
    if main_thread and hasattr(signal, "SIGTERM"):

        def _on_term(signum: int, frame: Any) -> None:
            raise _Terminated

        previous = signal.signal(signal.SIGTERM, _on_term)
    procs: list[subprocess.Popen[bytes]] = []
    threads: list[threading.Thread] = []
    try:
        procs, threads = _start(n, command, env, out, err)
        status, message = _watch(procs, timeout)
    except (KeyboardInterrupt, _Terminated):
        status, message = EXIT_INTERRUPTED, "interrupted; stopped all processes"
    finally:
        _stop(procs, grace)  # also any group members left by processes that exited
        for t in threads:
            t.join(timeout=2.0)
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    if message:
        err.write(f"{NAME}: {message}\n")
        err.flush()
    return status


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m descend.launch -n N [--timeout S] -- COMMAND...``; returns the status."""
    parser = argparse.ArgumentParser(
        prog="python -m descend.launch",
        description="Run COMMAND as N cooperating processes on this machine "
        "(see descend.distributed.initialize).",
    )
    parser.add_argument("-n", "--nproc", type=int, required=True, help="number of processes")
    parser.add_argument("--timeout", type=float, default=None, help="seconds before stopping all")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND [ARGS...]")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if args.nproc < 1:
        parser.error(f"-n must be >= 1, got {args.nproc}")
    if args.timeout is not None and not args.timeout > 0:
        parser.error(f"--timeout must be > 0, got {args.timeout:g}")
    if not command:
        parser.error("no command given (e.g. -n 2 -- python train.py)")
    try:
        return launch(args.nproc, command, timeout=args.timeout)
    except OSError as e:
        print(f"{NAME}: cannot start {command[0]!r}: {e.strerror or e}", file=sys.stderr)
        return 127


if __name__ == "__main__":
    sys.exit(main())
