"""The explorer's web server: Starlette over :mod:`descend.explore.api`, run by uvicorn.

The HTTP layer only checks a request, hands its JSON to a pure function of ``api`` in
a worker thread (``run_in_threadpool``: JAX never runs on the event loop) and sends the
answer. Safe by default:

* it listens on 127.0.0.1 (another ``host`` prints a warning);
* a request whose ``Host`` is not the server's own (127.0.0.1:PORT, localhost:PORT,
  [::1]:PORT, or the host it was started on) is refused with 403: a web page whose
  name was rebound to 127.0.0.1 (DNS rebinding) cannot reach it;
* a POST from a page of another origin (its ``Origin`` header) is refused with 403, one
  that is not ``application/json`` with 415 (so no HTML form can post to it), a body
  over 64 KiB with 413;
* every answer carries ``X-Content-Type-Options: nosniff``, a Content-Security-Policy
  that allows only the server's own files (no inline scripts or styles, no other
  hosts, no framing) and ``Referrer-Policy: no-referrer``;
* errors answer ``{"error": "..."}`` with a short message: never a traceback or a path.
"""

from __future__ import annotations

import ipaddress
import json
import os
import socket
import sys
import threading
import traceback
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import api

__all__ = ["DEFAULT_PORT", "MAX_BODY", "HostPolicy", "create_app", "listen", "serve"]

STATIC = Path(__file__).parent / "static"
DEFAULT_PORT = 8765
MAX_BODY = 64 * 1024
CSP = (
    "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"content-security-policy", CSP.encode()),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
]
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")
WILDCARDS = ("0.0.0.0", "::", "")


# --------------------------------------------------------------------------- who may ask
def _split_host(value: str) -> tuple[str, int | None] | None:
    """``"127.0.0.1:8765"`` -> ("127.0.0.1", 8765); ``"[::1]:80"`` -> ("::1", 80)."""
    value = value.strip().lower()
    if value.startswith("["):
        end = value.find("]")
        if end < 0:
            return None
        name, rest = value[1:end], value[end + 1 :]
    else:
        name, sep, rest = value.partition(":")
        rest = sep + rest
    if not rest:
        return name, None
    port = rest[1:]
    # isascii: "²".isdigit() is true, and int() refuses it
    if not rest.startswith(":") or not (port.isascii() and port.isdigit()) or len(rest) > 6:
        return None
    return name, int(rest[1:])


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address) is this machine's loopback interface."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class HostPolicy:
    """The ``Host`` (and ``Origin``) names this server answers to.

    The loopback names always; the host it listens on, if another; any IP address when
    it listens on every interface (an address cannot be rebound, only a name can).
    ``port`` None accepts any port (an app not yet bound, as in tests).
    """

    def __init__(self, port: int | None = None, host: str = "127.0.0.1") -> None:
        self.port = port
        self.names = set(LOOPBACK_NAMES)
        host = host.strip("[]").lower()
        self.any_ip = host in WILDCARDS
        if not self.any_ip:
            self.names.add(host)

    def allows(self, value: str | None, default_port: int = 80) -> bool:
        if not value:
            return False
        parts = _split_host(value)
        if parts is None:
            return False
        name, port = parts
        if self.port is not None and (port if port is not None else default_port) != self.port:
            return False
        return name in self.names or (self.any_ip and _is_ip(name))

    def allows_origin(self, origin: str) -> bool:
        try:
            u = urlsplit(origin)
        except ValueError:
            return False
        if u.scheme != "http" or u.path not in ("", "/") or u.query or u.username:
            return False
        return self.allows(u.netloc)


def _json_error(status: int, message: str, **extra: Any) -> JSONResponse:
    headers = {"Retry-After": "1"} if status == 429 else None
    return JSONResponse({"error": message, **extra}, status_code=status, headers=headers)


class Guard:
    """ASGI middleware: refuse a foreign ``Host`` (403) and add the security headers to
    every answer."""

    def __init__(self, app: ASGIApp, policy: HostPolicy) -> None:
        self.app = app
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [h for h in message.get("headers", []) if h[0] not in _OURS]
                message = {**message, "headers": headers + SECURITY_HEADERS}
                if scope.get("path", "").startswith("/api/"):
                    message["headers"].append((b"cache-control", b"no-store"))
            await send(message)

        if scope["type"] == "websocket":  # no websockets here: close (uvicorn answers 403)
            await send({"type": "websocket.close", "code": 1008})
            return
        if scope["type"] != "http":
            return
        host = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"host"), None)
        try:
            allowed = self.policy.allows(host)
        except Exception:  # noqa: BLE001 - a Host no check foresaw is refused, not a 500
            allowed = False
        if not allowed:
            response = _json_error(403, "this server answers only to its own loopback address")
            await response(scope, receive, send_with_headers)
            return
        await self.app(scope, receive, send_with_headers)


_OURS = {name for name, _ in SECURITY_HEADERS}


# --------------------------------------------------------------------------- requests
class _TooLarge(Exception):
    pass


async def _read_json(request: Request, policy: HostPolicy) -> Any:
    """The request's JSON body, after the origin, media type and size checks."""
    origin = request.headers.get("origin")
    if origin is not None and not policy.allows_origin(origin):
        raise api.ApiError(403, "cross-origin requests are refused")
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "application/json":
        raise api.ApiError(415, "send the request body as application/json")
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > MAX_BODY):
        raise api.ApiError(413, f"the request body is over {MAX_BODY // 1024} KiB")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise api.ApiError(413, f"the request body is over {MAX_BODY // 1024} KiB")
    try:
        return json.loads(bytes(body), parse_constant=_no_constants)
    except (ValueError, RecursionError):
        raise api.ApiError(400, "the request body is not valid JSON") from None


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _internal(where: str) -> JSONResponse:
    # The details go to the server's console, never to the client.
    print(f"descend explore: internal error in {where!r}", file=sys.stderr)
    traceback.print_exc(file=sys.stderr)
    return _json_error(500, "internal error")


def _endpoint(
    work: Callable[[Any], dict], policy: HostPolicy
) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        try:
            body = await _read_json(request, policy)
            return JSONResponse(await run_in_threadpool(work, body))
        except api.ApiError as e:
            retry = {"Retry-After": "1"} if e.status == 429 else None
            return JSONResponse(e.body(), status_code=e.status, headers=retry)
        except ClientDisconnect:  # the page went away mid-request: nobody to answer
            return Response(status_code=400)
        except Exception:  # noqa: BLE001 - a short answer, the traceback on the console
            return _internal(request.url.path)

    return endpoint


class _Static(StaticFiles):
    """StaticFiles that answers 404 (not a server error) while its folder is missing."""

    async def check_config(self) -> None:
        return None


# --------------------------------------------------------------------------- the app
def create_app(
    *,
    port: int | None = None,
    host: str = "127.0.0.1",
    static_dir: str | os.PathLike[str] | None = None,
    warm: bool = False,
) -> Starlette:
    """The explorer's Starlette app.

    Args:
      port: the port it is served on: requests must name it in their Host header (None
        accepts any port, for in-process tests).
      host: the address it listens on (see :class:`HostPolicy`).
      static_dir: the page's folder (default: ``descend/explore/static``).
      warm: compile the built-in functions in a background daemon thread while the app
        runs (its lifespan), so that their first requests answer at once.
    """
    policy = HostPolicy(port, host)
    static = Path(static_dir) if static_dir is not None else STATIC

    async def index(request: Request) -> Response:
        page = static / "index.html"
        if not page.is_file():
            return _json_error(404, "the page is missing from this installation")
        return FileResponse(page, media_type="text/html; charset=utf-8")

    async def functions(request: Request) -> Response:
        try:
            return JSONResponse(await run_in_threadpool(api.functions_info))
        except Exception:  # noqa: BLE001
            return _internal(request.url.path)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        messages = {404: "not found", 405: "method not allowed"}
        status = exc.status_code
        response = _json_error(status, messages.get(status, "request refused"))
        if status == 405 and exc.headers and "Allow" in exc.headers:
            response.headers["Allow"] = exc.headers["Allow"]
        return response

    async def server_error(request: Request, exc: Exception) -> Response:
        return _internal(request.url.path)

    routes = [
        Route("/", index, methods=["GET"]),
        Route("/api/functions", functions, methods=["GET"]),
        Route("/api/landscape", _endpoint(api.landscape, policy), methods=["POST"]),
        Route("/api/run", _endpoint(api.run, policy), methods=["POST"]),
        Route("/api/basins", _endpoint(api.basins, policy), methods=["POST"]),
        Mount("/static", _Static(directory=static, check_dir=False), name="static"),
    ]
    warmer = _Warmer() if warm else None
    app = Starlette(
        routes=routes,
        exception_handlers={HTTPException: http_error, Exception: server_error},
        lifespan=warmer.lifespan if warmer else None,
    )
    app.add_middleware(Guard, policy=policy)
    app.state.policy = policy
    app.state.warmer = warmer
    return app


class _Warmer:
    """The background warm-up of the built-ins, started and stopped with the app."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.thread: threading.Thread | None = None

    def _work(self) -> None:
        try:
            api.warm_up(self.stop)
        except Exception:  # noqa: BLE001 - warming is an optimisation: never fatal
            traceback.print_exc(file=sys.stderr)

    def start(self) -> None:
        self.thread = threading.Thread(target=self._work, name="descend-warm-up", daemon=True)
        self.thread.start()

    def close(self, timeout: float = 5.0) -> None:
        self.stop.set()
        if self.thread is not None:
            self.thread.join(timeout)

    def lifespan(self, app: Starlette) -> Any:
        import contextlib

        @contextlib.asynccontextmanager
        async def span() -> Any:
            self.start()
            try:
                yield
            finally:
                # the thread stops between two compilations (at most about a second)
                await run_in_threadpool(self.close)

        return span()


# --------------------------------------------------------------------------- serving
class ServeError(ValueError):
    """The server cannot start with these options (one line, for the command line)."""


def listen(host: str = "127.0.0.1", port: int = DEFAULT_PORT) -> tuple[socket.socket, str]:
    """A listening TCP socket on ``host``:``port`` (0: any free port) and its URL.

    Raises:
      ServeError: the host is not an address of this machine, or the port is in use
        or out of range.
    """
    if not isinstance(port, int) or isinstance(port, bool) or not 0 <= port <= 65535:
        raise ServeError(f"--port must be between 0 and 65535, got {port!r}")
    name = host.strip("[]") if host.startswith("[") else host
    try:
        infos = socket.getaddrinfo(name, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError, ValueError):
        raise ServeError(f"--host {host!r} is not a valid host name or address") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        if os.name != "nt":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as e:
        sock.close()
        if e.errno in (98, 48, 10048):  # EADDRINUSE on Linux, macOS, Windows
            raise ServeError(
                f"port {port} is in use on {host} (choose another with --port, "
                "or --port 0 for any free one)"
            ) from None
        if e.errno in (99, 49, 10049):  # EADDRNOTAVAIL
            raise ServeError(f"--host {host!r} is not an address of this machine") from None
        if e.errno in (13, 10013):  # EACCES: a privileged port
            raise ServeError(
                f"no permission to listen on port {port} (use a port >= 1024)"
            ) from None
        raise ServeError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
    bound = sock.getsockname()[1]
    if name in WILDCARDS:  # every interface: the browser here goes through loopback
        name = "::1" if family == socket.AF_INET6 else "127.0.0.1"
    shown = f"[{name}]" if ":" in name else name
    return sock, f"http://{shown}:{bound}/"


def serve(
    host: str = "127.0.0.1",
    port: int | None = DEFAULT_PORT,
    open_browser: bool = True,
    *,
    warm: bool = True,
) -> None:
    """Serve the explorer until Ctrl-C: print its URL and open it in the browser.

    Args:
      host: the address to listen on (127.0.0.1; another one prints a warning).
      port: the port; 0 for any free one; None for :data:`DEFAULT_PORT`, or any free
        port if that one is taken.
      open_browser: open the page in the default web browser.
      warm: compile the built-in functions in the background at start-up.

    Raises:
      ServeError: the host or port cannot be used (nothing was started).
    """
    import uvicorn

    if port is None:
        try:
            sock, url = listen(host, DEFAULT_PORT)
        except ServeError:
            sock, url = listen(host, 0)
    else:
        sock, url = listen(host, port)
    if not is_loopback(host):
        print(
            f"descend explore: warning: listening on {host}, not 127.0.0.1: anyone who can "
            "reach this machine can use the explorer and keep its CPU busy",
            file=sys.stderr,
            flush=True,
        )
    app = None
    try:  # Ctrl-C at any moment from here on stops the server cleanly
        app = create_app(port=sock.getsockname()[1], host=host, warm=warm)
        config = uvicorn.Config(
            app,
            log_level="warning",
            access_log=False,
            lifespan="on",
            timeout_graceful_shutdown=3,
            server_header=False,
            proxy_headers=False,  # no proxy in front: X-Forwarded-* headers mean nothing
        )
        server = uvicorn.Server(config)
        print(f"descend explore: {url}  (Ctrl-C stops it)", flush=True)
        if open_browser:
            threading.Thread(target=_open, args=(url,), daemon=True).start()
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass  # uvicorn has shut down cleanly and passes the Ctrl-C on
    finally:
        sock.close()
        if app is not None and app.state.warmer is not None:
            app.state.warmer.close()
    print("descend explore: stopped", flush=True)


def _open(url: str) -> None:
    import webbrowser

    try:
        webbrowser.open(url)
    except Exception:  # noqa: BLE001 - no browser: the URL is printed
        pass
