"""The explorer is safe by default: loopback only, its own Host and Origin, JSON only,
small bodies, capped work, short errors, strict headers; a real server under load; and
``descend explore`` on the command line (bad options, Ctrl-C).
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from helpers import ExploreServer

from descend.explore import api
from descend.explore.app import CSP, MAX_BODY, HostPolicy, create_app

pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")

PORT = 8765
BASE = f"http://127.0.0.1:{PORT}"
RUN = {
    "function": "himmelblau",
    "start": [1.0, 1.0],
    "optimizers": [{"name": "gd", "learning_rate": 0.01}],
    "steps": 200,
}
ENV = {**os.environ, "COLUMNS": "200", "JAX_PLATFORMS": "cpu", "PYTHONUNBUFFERED": "1"}
ENV.pop("DESCEND_DEBUG", None)


@pytest.fixture(scope="module")
def client():
    from starlette.testclient import TestClient

    with TestClient(create_app(port=PORT), base_url=BASE) as c:
        yield c


def post(client, path: str, body: object = RUN, **headers: str):
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    headers = {"content-type": "application/json", **headers}
    return client.post(path, content=data, headers=headers)


def assert_clean_error(r, status: int) -> dict:
    """A short JSON error: no traceback, no file path."""
    assert r.status_code == status, r.text
    out = r.json()
    assert set(out) <= {"error", "column"} and isinstance(out["error"], str)
    assert len(out["error"]) <= 300 and "\n" not in out["error"]
    assert "Traceback" not in r.text and ".py" not in r.text and "/work" not in r.text
    assert not re.search(r"(/[\w.-]+){2,}", r.text), r.text
    return out


# --------------------------------------------------------------------------- headers
@pytest.mark.parametrize(
    "method, path",
    [("GET", "/api/functions"), ("GET", "/nothing"), ("GET", "/"), ("POST", "/api/run")],
)
def test_every_answer_carries_the_security_headers(client, method, path):
    r = client.request(method, path, json=RUN if method == "POST" else None)
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["content-security-policy"] == CSP
    assert r.headers["referrer-policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in CSP and "'unsafe-inline'" not in CSP
    for directive in ("default-src", "script-src", "style-src", "connect-src"):
        assert re.search(rf"{directive} 'self'(;|$)", CSP), directive
    assert "server" not in r.headers or "uvicorn" not in r.headers["server"]


def test_refused_host_answers_carry_the_headers_too(client):
    r = client.get("/api/functions", headers={"host": "evil.example:8765"})
    assert r.status_code == 403 and r.headers["x-content-type-options"] == "nosniff"


# --------------------------------------------------------------------------- host and origin
@pytest.mark.parametrize(
    "host, ok",
    [
        (f"127.0.0.1:{PORT}", True),
        (f"localhost:{PORT}", True),
        (f"LOCALHOST:{PORT}", True),
        (f"[::1]:{PORT}", True),
        (f"attacker.example:{PORT}", False),  # DNS rebinding: a name pointed at 127.0.0.1
        ("attacker.example", False),
        ("127.0.0.1:9999", False),  # another port: another server
        ("127.0.0.1", False),  # port 80 implied
        (f"127.0.0.1.attacker.example:{PORT}", False),
        (f"localhost.:{PORT}", False),
        (f"[::1:{PORT}", False),
        ("", False),
    ],
)
def test_only_the_servers_own_host_names_are_answered(client, host, ok):
    r = client.get("/api/functions", headers={"host": host})
    if ok:
        assert r.status_code == 200
    else:
        assert_clean_error(r, 403)


@pytest.mark.parametrize(
    "origin, ok",
    [
        (None, True),  # not a browser (curl, a script): nothing to check
        (BASE, True),
        (f"http://localhost:{PORT}", True),
        ("http://attacker.example", False),
        (f"http://attacker.example:{PORT}", False),
        (f"https://127.0.0.1:{PORT}", False),
        ("http://127.0.0.1:9999", False),
        ("null", False),  # sandboxed frames and file:// pages
    ],
)
def test_posts_from_another_origin_are_refused(client, origin, ok):
    headers = {"origin": origin} if origin else {}
    r = post(client, "/api/run", **headers)
    if ok:
        assert r.status_code == 200
    else:
        assert_clean_error(r, 403)


def test_host_policy_of_a_server_on_every_interface():
    policy = HostPolicy(8000, "0.0.0.0")
    assert policy.allows("192.168.1.20:8000") and policy.allows("[fe80::1]:8000")
    assert policy.allows("localhost:8000")
    assert not policy.allows("my-laptop.example:8000")  # names can be rebound
    assert not policy.allows("192.168.1.20:8001")
    lan = HostPolicy(8000, "192.168.1.20")
    assert lan.allows("192.168.1.20:8000") and not lan.allows("10.0.0.1:8000")


# --------------------------------------------------------------------------- bodies
@pytest.mark.parametrize(
    "content_type",
    [None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"],
)
def test_posts_must_be_json(client, content_type):
    headers = {"content-type": content_type} if content_type else {}
    r = client.post("/api/run", content=json.dumps(RUN), headers=headers)
    assert_clean_error(r, 415)


def test_json_with_a_charset_is_json(client):
    r = post(client, "/api/run", **{"content-type": "application/json; charset=utf-8"})
    assert r.status_code == 200


def test_bodies_over_64_kib_are_refused(client):
    big = {**RUN, "padding": "x" * MAX_BODY}
    assert_clean_error(post(client, "/api/run", big), 413)

    def chunks():  # no Content-Length: the size is counted as it arrives
        for _ in range(20):
            yield b" " * 8192

    r = client.post("/api/run", content=chunks(), headers={"content-type": "application/json"})
    assert_clean_error(r, 413)
    small = {**RUN, "padding": "x" * (MAX_BODY - 1000)}
    assert post(client, "/api/run", small).status_code == 200


@pytest.mark.parametrize(
    "raw",
    [
        b"{not json",
        b'{"function": "himmelblau", "start": [NaN, 1], "optimizers": ["gd"]}',
        b'{"function": "himmelblau", "start": [Infinity, 1], "optimizers": ["gd"]}',
        b"[" * 20000 + b"]" * 20000,
        b'"a string"',
        b"\xff\xfe",
        b"",
    ],
)
def test_malformed_bodies_are_400(client, raw):
    assert_clean_error(post(client, "/api/run", raw), 400)


# --------------------------------------------------------------------------- formulas and caps
@pytest.mark.parametrize(
    "formula",
    [
        "__import__('os').system('touch {marker}')",
        "open('{marker}', 'w')",
        'exec(\'open("{marker}", "w")\')',
        "x.__class__.__mro__",
        "[c for c in ().__class__.__base__.__subclasses__()]",
        "lambda: open('{marker}', 'w')",
    ],
)
def test_formulas_go_only_through_ds_parse(client, tmp_path, formula):
    marker = tmp_path / "pwned"
    r = post(client, "/api/landscape", {"formula": formula.format(marker=marker)})
    out = assert_clean_error(r, 422)
    assert "column" in out
    assert not marker.exists()


@pytest.mark.parametrize(
    "path, body",
    [
        ("/api/run", {**RUN, "steps": 10_001}),
        ("/api/run", {**RUN, "optimizers": [{"name": "gd"}] * 7}),
        ("/api/landscape", {"function": "himmelblau", "grid": 201}),
        ("/api/basins", {"function": "himmelblau", "grid": 81}),
        ("/api/basins", {"function": "himmelblau", "steps": 5001}),
    ],
)
def test_work_per_request_is_capped(client, path, body):
    assert_clean_error(post(client, path, body), 400)


def test_an_internal_error_reaches_the_client_as_two_words(monkeypatch, capsys):
    from starlette.testclient import TestClient

    def broken(body):
        raise RuntimeError("secret detail in /home/someone/project/file.py line 3")

    monkeypatch.setattr(api, "run", broken)
    with TestClient(create_app(port=PORT), base_url=BASE) as c:
        r = post(c, "/api/run")
    out = assert_clean_error(r, 500)
    assert out == {"error": "internal error"} and "secret" not in r.text
    assert "secret detail" in capsys.readouterr().err  # the console still gets it


def test_static_files_stay_inside_their_folder(client):
    for path in (
        "/static/../app.py",
        "/static/%2e%2e/app.py",
        "/static/..%2fapp.py",
        "/static//etc/passwd",
        "/static/%00",
    ):
        r = client.get(path)
        assert r.status_code == 404, path
        assert "import" not in r.text


# --------------------------------------------------------------------------- a real server
def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


REQUESTS = [
    ("GET", "/api/functions", None, {}, 200),
    ("POST", "/api/run", "run", {}, 200),
    ("POST", "/api/landscape", {"function": "himmelblau", "grid": 30}, {}, 200),
    ("POST", "/api/run", RUN, {"origin": "http://attacker.example"}, 403),
    ("POST", "/api/run", "not json", {}, 400),
    ("POST", "/api/run", {**RUN, "steps": 10**6}, {}, 400),
    ("GET", "/api/functions", None, {"host": "attacker.example"}, 403),
    ("GET", "/nothing", None, {}, 404),
]


def _batch(url: str, n: int, threads: int = 8) -> list[tuple[int, int]]:
    """``n`` requests from ``threads`` threads; (expected, got) for each answer."""
    import httpx

    answers: list[tuple[int, int]] = []
    lock = threading.Lock()

    def worker(k: int) -> None:
        with httpx.Client(base_url=url, timeout=60) as c:
            for i in range(k, n, threads):
                method, path, body, headers, expected = REQUESTS[i % len(REQUESTS)]
                if body == "run":  # a new start and learning rate each time
                    body = {
                        **RUN,
                        "start": [1 + (i % 17) / 10, 1.0],
                        "optimizers": [
                            {"name": "gd", "learning_rate": 0.001 + i * 1e-5},
                            {"name": "adam", "learning_rate": 0.05},
                        ],
                    }
                content = body if isinstance(body, str) or body is None else json.dumps(body)
                h = {"content-type": "application/json", **headers} if method == "POST" else headers
                r = c.request(method, path, content=content, headers=h)
                with lock:
                    answers.append((expected, r.status_code))

    ts = [threading.Thread(target=worker, args=(k,)) for k in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(300)
    return answers


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="reads RSS from /proc")
def test_a_real_server_answers_500_requests_from_8_threads_without_growing():
    import httpx

    with ExploreServer() as s:
        # compile what the batch runs first (the batch itself measures steady state)
        for body in ({**RUN, "optimizers": [{"name": "gd"}, {"name": "adam"}]},):
            assert httpx.post(s.url + "api/run", json=body, timeout=60).status_code == 200
        assert (
            httpx.post(
                s.url + "api/landscape", json={"function": "himmelblau", "grid": 30}, timeout=60
            ).status_code
            == 200
        )
        first = _batch(s.url, 500)
        rss_before = _rss_bytes()
        second = _batch(s.url, 500)
        rss_after = _rss_bytes()
        assert len(first) == len(second) == 500  # none lost
        assert all(expected == got for expected, got in first + second)
        assert httpx.get(s.url + "api/functions", timeout=10).status_code == 200  # still up
        grew = rss_after - rss_before
        assert grew < 32 * 2**20, f"RSS grew {grew / 2**20:.1f} MiB over a second batch"


def test_the_app_stops_its_background_warm_up_when_it_stops():
    from starlette.testclient import TestClient

    app = create_app(port=PORT, warm=True)
    with TestClient(app, base_url=BASE) as c:
        assert c.get("/api/functions").status_code == 200
        thread = app.state.warmer.thread
        assert thread.daemon and thread.is_alive()
    assert not thread.is_alive()


# --------------------------------------------------------------------------- the command line
def explore(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "descend.cli", "explore", "--no-browser", *args],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=timeout,
    )


def test_a_port_in_use_is_one_line_and_exit_2():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        p = explore("--port", str(port))
    assert p.returncode == 2, p.stderr
    assert p.stderr.count("\n") == 1 and p.stderr.startswith("descend: error: ")
    assert f"port {port} is in use" in p.stderr and p.stdout == ""


@pytest.mark.parametrize(
    "args, words",
    [
        (["--host", "no such host!"], "not a valid host"),
        (["--host", "300.1.2.3"], "not a valid host"),
        (["--port", "70000"], "--port"),
        (["--port", "-1"], "--port"),
    ],
)
def test_bad_options_are_one_line_and_exit_2(args, words):
    p = explore(*args)
    assert p.returncode == 2, p.stderr
    assert p.stderr.count("\n") == 1 and p.stderr.startswith("descend: error: ")
    assert words in p.stderr and "Traceback" not in p.stderr


def _start(*args: str) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "descend.cli", "explore", "--no-browser", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    )
    line = proc.stdout.readline()
    m = re.search(r"http://[^\s]+/", line)
    assert m, (line, proc.stderr.read() if proc.poll() is not None else "")
    return proc, m.group(0)


def _ctrl_c(proc: subprocess.Popen) -> tuple[str, str]:
    """Ctrl-C to the server: its (stdout, stderr), bounded (killed if it hangs)."""
    try:
        proc.send_signal(signal.SIGINT)
        return proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def test_ctrl_c_stops_the_server_cleanly():
    import httpx

    proc, url = _start()
    try:
        assert url.startswith("http://127.0.0.1:")
        r = httpx.get(url + "api/functions", timeout=30)
        assert r.status_code == 200 and r.json()["functions"]
    finally:
        out, err = _ctrl_c(proc)
    assert proc.returncode == 0, err
    assert "Traceback" not in err and "stopped" in out
    with pytest.raises(httpx.ConnectError):
        httpx.get(url + "api/functions", timeout=5)


def test_listening_beyond_loopback_prints_a_warning():
    proc, _ = _start("--host", "0.0.0.0")
    _, err = _ctrl_c(proc)
    assert "warning" in err and "0.0.0.0" in err
    assert proc.returncode == 0
