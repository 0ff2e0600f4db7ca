"""Pieces several test files share (tests/ is on sys.path: ``from helpers import ...``)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
from typing import Any

import pytest

COMPILE = "/jax/core/compile/backend_compile_duration"


def compilations(run: Any) -> tuple[int, Any]:
    """How many XLA compilations ``run()`` causes, and what it returned."""
    import jax

    events = []
    listener = lambda event, *a, **kw: events.append(event)  # noqa: E731
    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        out = run()
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)
    return events.count(COMPILE), out


class ExploreServer:
    """uvicorn serving the explorer in a thread, on a free loopback port."""

    def __init__(self) -> None:
        import uvicorn

        from descend.explore.app import create_app, listen

        self.sock, self.url = listen("127.0.0.1", 0)
        port = self.sock.getsockname()[1]
        config = uvicorn.Config(
            create_app(port=port), log_level="warning", access_log=False, lifespan="on"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]})

    def __enter__(self) -> ExploreServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert self.thread.is_alive() and time.monotonic() < deadline, "no server"
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(30)
        self.sock.close()


# --------------------------------------------------------------------------- processes
ENV = {**os.environ, "COLUMNS": "200", "JAX_PLATFORMS": "cpu", "PYTHONUNBUFFERED": "1"}
for _var in ("DESCEND_DEBUG", "JAX_NUM_CPU_DEVICES", "XLA_FLAGS"):
    ENV.pop(_var, None)
for _var in ("DESCEND_COORDINATOR", "DESCEND_NUM_PROCESSES", "DESCEND_PROCESS_ID"):
    ENV.pop(_var, None)


def _loopback_ok() -> bool:
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            s.listen(1)
        return True
    except OSError:
        return False


needs_ports = pytest.mark.skipif(not _loopback_ok(), reason="cannot open a loopback TCP port")


def run_launch(n: int, script: str, *extra: str, timeout: float = 120):
    """``descend launch -n N --timeout T [extra] -- python -c SCRIPT``, bounded twice.

    The launcher's ``--timeout`` (``timeout``, unless ``extra`` gives one as two
    arguments) stops its processes; a launcher still running 60 s past it gets SIGTERM
    (it stops its processes then) and SIGKILL 10 s later.
    """
    if "--timeout" not in extra:
        extra = ("--timeout", f"{timeout:g}", *extra)
    limit = float(extra[extra.index("--timeout") + 1]) + 60
    command = [sys.executable, "-m", "descend.cli", "launch", "-n", str(n), *extra, "--"]
    command += [sys.executable, "-c", textwrap.dedent(script)]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV
    ) as p:
        try:
            out, err = p.communicate(timeout=limit)
        except subprocess.TimeoutExpired as e:
            p.terminate()
            try:
                e.stdout, e.stderr = p.communicate(timeout=10)
            finally:
                p.kill()
            raise
    return subprocess.CompletedProcess(command, p.returncode, out, err)
