"""Pieces several test files share (tests/ is on sys.path: ``from helpers import ...``)."""

from __future__ import annotations

import threading
import time
from typing import Any

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
