"""The explorer's JSON API: the pure functions of descend.explore.api, and the same
answers over HTTP (Starlette's test client, in-process).

Compiling is the slow part (about 0.1 s a program), so the tests share a few functions
and optimizers, and most bad input is refused before anything compiles.
"""

from __future__ import annotations

import json
import math
import threading

import numpy as np
import pytest

import descend as ds
from descend.explore import api, cache, fields

# Starlette's test client still runs on httpx (pinned in constraints.txt).
pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")

HIMMELBLAU_RUN = {
    "function": "himmelblau",
    "start": [-1.0, -1.0],
    "optimizers": [{"name": "gd", "learning_rate": 0.01}, {"name": "adam", "learning_rate": 0.05}],
    "steps": 300,
}


def strict_json(data: object) -> str:
    """What the server sends: JSON without NaN or Infinity."""
    return json.dumps(data, allow_nan=False)


def refused(fn, body, status: int) -> dict:
    with pytest.raises(api.ApiError) as info:
        fn(body)
    assert info.value.status == status, info.value.message
    out = info.value.body()
    assert "\n" not in out["error"] and "Traceback" not in out["error"]
    assert "/" not in out["error"].replace("x/y", ""), out  # no paths
    return out


# --------------------------------------------------------------------------- /api/functions
def test_functions_lists_the_two_variable_builtins_and_the_optimizer_defaults():
    info = api.functions_info()
    strict_json(info)
    names = [f["name"] for f in info["functions"]]
    assert "himmelblau" in names and "rosenbrock" in names and "saddle" in names
    assert "seed-quadratic" not in names  # three variables
    for f in info["functions"]:
        tf = ds.functions.get(f["name"])
        assert f["domain"] == [list(p) for p in tf.domain(2)]
        assert f["start"] == list(tf.start(2))
        assert all(len(m) == 3 for m in f["minima"])
        assert isinstance(f["description"], str) and f["formula"]
    h = next(f for f in info["functions"] if f["name"] == "himmelblau")
    assert len(h["minima"]) == 4 and h["domain"] == [[-5.0, 5.0], [-5.0, 5.0]]
    opts = info["optimizers"]
    assert set(opts) == set(ds.OPTIMIZERS)
    assert opts["adam"] == {"learning_rate": 0.01, "b1": 0.9, "b2": 0.999, "eps": 1e-8}
    assert opts["momentum"]["beta"] == 0.9 and opts["rmsprop"]["decay"] == 0.9
    assert opts["adamw"]["weight_decay"] == 1e-4
    assert all(isinstance(v["learning_rate"], float) for v in opts.values())
    info["functions"].clear()  # a copy: the next caller gets the full answer
    assert api.functions_info()["functions"]


# --------------------------------------------------------------------------- /api/landscape
def test_landscape_of_a_builtin():
    out = api.landscape({"function": "himmelblau", "grid": 41})
    strict_json(out)
    assert out["domain"] == [[-5.0, 5.0], [-5.0, 5.0]]
    assert len(out["x"]) == len(out["y"]) == 41
    assert len(out["f"]) == 41 and all(len(row) == 41 for row in out["f"])
    # rows are y: f[i][j] = f(x[j], y[i])
    i, j = 30, 7
    expected = float(ds.functions.get("himmelblau")(np.array([out["x"][j], out["y"][i]])))
    assert out["f"][i][j] == pytest.approx(expected, rel=1e-12)
    assert 15 <= len(out["levels"]) <= 25 and out["levels"] == sorted(out["levels"])
    assert len(out["minima"]) == 4 and out["variables"] == ["x", "y"]
    g = out["grad"]
    assert len(g["x"]) == len(g["y"]) == 20 and len(g["gx"]) == 20 and len(g["gy"][0]) == 20
    gx, gy = ds.grad(ds.functions.get("himmelblau"))(np.array([g["x"][3], g["y"][11]]))
    assert g["gx"][11][3] == pytest.approx(float(gx)) and g["gy"][11][3] == pytest.approx(float(gy))


def test_landscape_levels_are_log_spaced_when_f_spans_decades():
    out = api.landscape({"function": "goldstein-price", "grid": 30})
    assert out["log"] is True
    steps = np.diff(np.log(np.array(out["levels"]) - out["fmin"]))
    assert np.allclose(steps, steps[0])
    assert api.landscape({"function": "booth", "grid": 30})["log"] is False


def test_landscape_of_a_formula_sends_null_where_f_is_not_finite():
    out = api.landscape({"formula": "1/x + y**2", "grid": 21, "domain": [[-1, 1], [-2, 2]]})
    strict_json(out)
    assert out["domain"] == [[-1.0, 1.0], [-2.0, 2.0]] and out["minima"] == []
    assert out["x"][10] == 0.0
    assert all(row[10] is None for row in out["f"])  # 1/0
    assert all(v is not None for row in out["f"] for k, v in enumerate(row) if k != 10)


def test_a_formula_of_one_variable_is_a_function_of_x_and_y():
    out = api.landscape({"formula": "(y - 1)**2", "grid": 5})
    assert out["f"][0] == [pytest.approx(36.0)] * 5  # y = -5 on every x
    run = api.run({"formula": "(y - 1)**2", "start": [3, 0], "optimizers": ["gd"], "steps": 50})
    assert run["runs"][0]["path"][-1][0] == 3.0  # x never moves


# --------------------------------------------------------------------------- /api/run
def test_run_answers_each_optimizer_with_its_path_and_loss():
    out = api.run(HIMMELBLAU_RUN)
    strict_json(out)
    assert out["server_ms"] > 0
    gd, adam = out["runs"]
    assert gd["optimizer"] == "gd" and gd["hyper"] == {"learning_rate": 0.01}
    assert adam["hyper"] == {"learning_rate": 0.05, "b1": 0.9, "b2": 0.999, "eps": 1e-8}
    res = ds.minimize("himmelblau", [-1.0, -1.0], ds.gd(0.01), max_steps=300)
    assert gd["nit"] == res.nit and gd["status"] == res.status.value == "gtol"
    assert gd["success"] is True and gd["message"] == res.message
    assert len(gd["path"]) == gd["nit"] + 1 and len(gd["loss"]) == gd["nit"] + 1
    assert gd["path"][0] == [-1.0, -1.0]
    np.testing.assert_allclose(gd["path"], res.history.x)
    np.testing.assert_allclose(gd["loss"], res.history.fun)
    assert adam["status"] in ("gtol", "max_steps") and len(adam["path"]) == adam["nit"] + 1


def test_a_run_that_ends_in_a_local_minimum_says_so_as_descend_does():
    body = {
        "function": "rastrigin",
        "start": [2.2, 1.1],
        "steps": 1000,
        "optimizers": [{"name": "gd", "learning_rate": 0.001}],
    }
    run = api.run(body)["runs"][0]
    res = ds.minimize("rastrigin", [2.2, 1.1], ds.gd(0.001), max_steps=1000)
    assert "a local minimum: the global minimum is f = 0 at (0, 0)" in res.message
    assert run["message"] == res.message and run["nit"] == res.nit


def test_run_edge_is_2_over_L_from_the_exact_hessian():
    # booth: f = (x + 2y - 7)^2 + (2x + y - 5)^2, Hessian [[10, 8], [8, 10]]: L = 18
    out = api.run({"function": "booth", "start": [0, 0], "optimizers": ["gd"], "steps": 10})
    assert out["edge"]["one_over_L"] == pytest.approx(1 / 18)
    assert out["edge"]["two_over_L"] == pytest.approx(2 / 18)
    assert "2/L" in out["edge"]["rule"]
    # where f curves down in every direction there is no edge, and the rule says why
    down = api.run({"formula": "-x**2 - y**2", "start": [1, 1], "optimizers": ["gd"], "steps": 5})
    assert down["edge"]["one_over_L"] is None and down["edge"]["two_over_L"] is None
    assert "curves down" in down["edge"]["rule"]
    # off a quadratic, the same edge as descend's public suggest_learning_rate
    for name, start in (("himmelblau", [-3.0, -3.0]), ("rosenbrock", [-1.2, 1.0])):
        out = api.run({"function": name, "start": start, "optimizers": ["gd"], "steps": 5})
        hint = ds.suggest_learning_rate(name, start)
        assert out["edge"]["two_over_L"] == pytest.approx(hint.max_stable, rel=1e-9)


def test_run_sends_null_for_non_finite_numbers_and_says_why():
    out = api.run(
        {
            "formula": "sqrt(x) + y**2",
            "start": [0.5, 1.0],
            "optimizers": [{"name": "gd", "learning_rate": 2.0}],
            "steps": 100,
        }
    )
    strict_json(out)
    run = out["runs"][0]
    assert run["status"] == "nonfinite" and run["success"] is False
    assert "nan" in run["message"] or "inf" in run["message"] or "finite" in run["message"]
    assert any(v is None for v in run["loss"])
    assert len(run["path"]) == run["nit"] + 1


def test_run_diverging_learning_rate_is_a_status_not_an_error():
    run = api.run(booth_run(optimizers=[{"name": "gd", "learning_rate": 1}]))["runs"][0]
    assert run["status"] in ("diverged", "nonfinite") and run["success"] is False


def test_run_with_auto_learning_rate_reports_the_rate_chosen():
    run = api.run(booth_run(optimizers=[{"name": "gd", "learning_rate": "auto"}]))["runs"][0]
    assert run["hyper"]["learning_rate"] == pytest.approx(1 / 18)
    assert "1/L" in run["learning_rate_rule"]


def test_the_same_formula_text_is_the_same_function_object(monkeypatch):
    a = cache.entry_for_formula("x**2 + y**4", fields.parse_formula)
    b = cache.entry_for_formula("x**2 + y**4", fields.parse_formula)
    assert a is b and a.fun is b.fun
    monkeypatch.setattr(cache, "FORMULA_CACHE_SIZE", 3)
    for k in range(6):
        cache.entry_for_formula(f"x**2 + {k}*y**2", fields.parse_formula)
    assert cache.formula_cache_size() == 3
    assert cache.entry_for_formula(
        "x**2 + 5*y**2", fields.parse_formula
    ) is cache.entry_for_formula("x**2 + 5*y**2", fields.parse_formula)
    assert (
        cache.entry_for_formula("x**2 + y**4", fields.parse_formula) is not a
    )  # dropped, made anew


def test_a_new_learning_rate_or_start_compiles_nothing():
    api.run(HIMMELBLAU_RUN)
    entry = fields.entry(HIMMELBLAU_RUN)
    specs = fields.optimizers(
        [{"name": "gd", "learning_rate": 0.02}, {"name": "adam", "learning_rate": 0.1}]
    )
    assert not entry.cold(api._run_keys(specs, 300))
    assert entry.cold(api._run_keys(specs, 301))  # the step count sizes the history


# --------------------------------------------------------------------------- /api/basins
def test_basins_labels_each_start_with_the_minimum_it_reaches():
    gd = {"name": "gd", "learning_rate": 0.01}
    out = api.basins({"function": "himmelblau", "grid": 8, "steps": 400, "optimizer": gd})
    strict_json(out)
    labels = np.array(out["labels"])
    assert labels.shape == (8, 8) and len(out["x"]) == len(out["y"]) == 8
    assert labels.min() >= -1 and labels.max() < len(out["minima"])
    assert out["not_converged"] == int(np.sum(labels < 0))
    known = np.array([m.x for m in ds.functions.get("himmelblau").minima()])
    for x, y, f in out["minima"]:
        assert np.min(np.linalg.norm(known - [x, y], axis=1)) < 1e-3 and f < 1e-6


# --------------------------------------------------------------------------- bad input
def booth_run(**fields: object) -> dict:
    return {"function": "booth", "start": [0, 0], "optimizers": ["gd"], **fields}


@pytest.mark.parametrize(
    "body, words",
    [
        ({"start": [0, 0], "optimizers": ["gd"]}, "function"),
        (booth_run(formula="x"), "function"),
        ({"function": "booth", "optimizers": ["gd"]}, "start"),
        (booth_run(start=[0]), "start"),
        (booth_run(start=[0, "a"]), "start[1]"),
        (booth_run(start=[0, 1e300]), "start"),
        (booth_run(optimizers=[]), "optimizers"),
        (booth_run(optimizers=["gd"] * 7), "at most 6"),
        (booth_run(optimizers=["sgd"]), "name must be one of"),
        (booth_run(optimizers=[{"name": "gd", "beta": 0.9}]), "unknown hyperparameter 'beta'"),
        (booth_run(optimizers=[{"name": "momentum", "beta": 1.5}]), "beta"),
        (booth_run(optimizers=[{"name": "gd", "learning_rate": -1}]), "learning_rate"),
        (booth_run(optimizers=[{"name": "gd", "learning_rate": True}]), "number"),
        (booth_run(steps=10_001), "between 1 and 10000"),
        (booth_run(steps=0), "steps"),
        (booth_run(steps="9"), "integer"),
        (booth_run(function="himmelblu"), "did you mean himmelblau"),
        (booth_run(function="seed-quadratic"), "two"),
        (booth_run(function=3), "name"),
    ],
)
def test_run_refuses_bad_fields_with_400(body, words):
    assert words in refused(api.run, body, 400)["error"]


@pytest.mark.parametrize(
    "fn, body, words",
    [
        (api.landscape, {"function": "booth", "grid": 201}, "between 2 and 200"),
        (api.landscape, {"function": "booth", "grid": 1}, "grid"),
        (api.landscape, {"function": "booth", "domain": [[1, 0], [0, 1]]}, "x0 < x1"),
        (api.landscape, {"function": "booth", "domain": [[0, 1]]}, "domain"),
        (api.basins, {"function": "booth", "grid": 81}, "between 2 and 80"),
        (api.basins, {"function": "booth", "steps": 5001}, "between 1 and 5000"),
        (api.basins, {"function": "booth", "optimizer": {"name": "nope"}}, "name"),
        (api.run, [1, 2], "JSON object"),
    ],
)
def test_caps_and_shapes_are_checked(fn, body, words):
    assert words in refused(fn, body, 400)["error"]


@pytest.mark.parametrize(
    "formula, column, words",
    [
        ("x**2 +* y", 7, "syntax error"),
        ("x**2 + z", 8, "function of x and y"),
        ("__import__('os').system('true')", 1, "not allowed"),
        ("x.real", 1, "attribute"),
        ("himmelblau", None, "built-in function"),
        ("", None, "empty"),
        ("x" * 2000, None, "too long"),
    ],
)
def test_bad_formulas_are_422_with_the_column(formula, column, words):
    out = refused(api.landscape, {"formula": formula}, 422)
    assert words in out["error"] and "column" in out
    if column is not None:
        assert out["column"] == column


# --------------------------------------------------------------------------- compiling
def test_a_request_that_must_compile_waits_for_the_gate_then_gets_429(monkeypatch):
    api.run(HIMMELBLAU_RUN)  # warm
    monkeypatch.setattr(cache, "COMPILE_WAIT", 0.2)
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with cache.GATE.hold():
            held.set()
            release.wait(10)

    t = threading.Thread(target=hold)
    t.start()
    try:
        held.wait(5)
        body = {"formula": "x**2 + 7.25*y**2", "start": [1, 1], "optimizers": ["gd"]}
        out = refused(api.run, body, 429)
        assert "busy" in out["error"]
        assert api.run(HIMMELBLAU_RUN)["runs"]  # warm requests never wait
    finally:
        release.set()
        t.join()
    assert api.run({"formula": "x**2 + 7.25*y**2", "start": [1, 1], "optimizers": ["gd"]})["runs"]


def test_the_gate_lets_requests_go_before_the_background_warm_up():
    gate = cache.CompileGate()
    order: list[str] = []
    first = threading.Event()

    def holder() -> None:
        with gate.hold():
            first.set()
            threading.Event().wait(0.3)

    def background() -> None:
        with gate.hold(timeout=5, background=True):
            order.append("warm-up")

    def request() -> None:
        with gate.hold(timeout=5):
            order.append("request")

    threads = [threading.Thread(target=holder)]
    threads[0].start()
    first.wait(5)
    threads += [threading.Thread(target=background), threading.Thread(target=request)]
    threads[1].start()
    threading.Event().wait(0.05)
    threads[2].start()
    for t in threads:
        t.join(10)
    assert order == ["request", "warm-up"]
    with gate.hold():
        with gate.hold(timeout=0):  # the holder's own nested hold passes through
            pass


def test_warm_up_compiles_a_builtin_once():
    done = api.warm_up(names=["matyas"], optimizers=["gd", "adam"])
    assert done == 4  # the landscape's helpers, one run per optimizer, a diverging run
    entry = fields.builtin("matyas")
    body = {"function": "matyas", "start": [1, 2], "optimizers": ["gd", "adam"], "steps": 1000}
    assert not entry.cold(api._run_keys(fields.optimizers(body["optimizers"]), 1000))
    assert not entry.cold([("values", api.DEFAULT_GRID), ("gradients", api.ARROWS)])
    stop = threading.Event()
    stop.set()
    assert api.warm_up(stop, names=["matyas"]) == 0


# --------------------------------------------------------------------------- over HTTP
@pytest.fixture(scope="module")
def client(tmp_path_factory):
    from starlette.testclient import TestClient

    from descend.explore import create_app

    static = tmp_path_factory.mktemp("static")
    (static / "index.html").write_text("<!doctype html><title>explorer</title>")
    (static / "app.js").write_text("console.log('hi');")
    app = create_app(port=8765, static_dir=static)
    with TestClient(app, base_url="http://127.0.0.1:8765") as c:
        yield c


def test_http_serves_the_page_and_its_files(client):
    r = client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "explorer" in r.text
    r = client.get("/static/app.js")
    assert r.status_code == 200 and "javascript" in r.headers["content-type"]
    assert client.get("/static/missing.js").status_code == 404


def test_http_answers_the_api(client):
    r = client.get("/api/functions")
    assert r.status_code == 200 and r.json() == api.functions_info()
    r = client.post("/api/run", json=HIMMELBLAU_RUN)
    assert r.status_code == 200
    out = r.json()
    assert [run["optimizer"] for run in out["runs"]] == ["gd", "adam"]
    assert set(out["edge"]) == {"one_over_L", "two_over_L", "rule"}
    r = client.post("/api/landscape", json={"function": "booth", "grid": 10})
    assert r.status_code == 200 and len(r.json()["f"]) == 10
    r = client.post("/api/basins", json={"function": "booth", "grid": 4, "steps": 200})
    assert r.status_code == 200 and np.array(r.json()["labels"]).shape == (4, 4)


def test_http_errors_are_json_with_the_right_status(client):
    r = client.post("/api/landscape", json={"formula": "x +* y"})
    assert r.status_code == 422 and r.json() == {
        "error": "syntax error at column 4 near '* y'",
        "column": 4,
    }
    r = client.post("/api/run", json={"function": "booth"})
    assert r.status_code == 400 and set(r.json()) == {"error"}
    r = client.get("/api/nothing")
    assert r.status_code == 404 and r.json() == {"error": "not found"}
    r = client.get("/api/run")
    assert r.status_code == 405 and r.json() == {"error": "method not allowed"}
    assert "POST" in r.headers["allow"]
    r = client.delete("/api/functions")
    assert r.status_code == 405


def test_the_api_work_runs_off_the_event_loop(client, monkeypatch):
    import asyncio

    seen = {}

    def spy(body):
        try:
            asyncio.get_running_loop()
            seen["loop"] = True
        except RuntimeError:
            seen["loop"] = False
        return {"ok": True}

    monkeypatch.setattr(api, "landscape", spy)
    from starlette.testclient import TestClient

    from descend.explore import create_app

    with TestClient(create_app(), base_url="http://localhost") as c:
        assert c.post("/api/landscape", json={}).json() == {"ok": True}
    assert seen["loop"] is False


def test_non_finite_numbers_travel_as_null_over_http(client):
    r = client.post("/api/landscape", json={"formula": "log(x)", "grid": 5})
    assert r.status_code == 200
    text = r.text
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text)["f"][0][0] is None
    assert not math.isnan(json.loads(text)["fmin"])


def test_compiled_programs_are_cleared_after_many_formulas(monkeypatch):
    """Memory stays bounded: once as many formulas as the LRU holds have been dropped,
    the next request that compiles clears every compiled program first."""
    import jax

    from descend.explore import cache

    monkeypatch.setattr(cache, "FORMULA_CACHE_SIZE", 2)
    monkeypatch.setattr(cache, "_EVICTED", 0)
    cleared = []
    monkeypatch.setattr(jax, "clear_caches", lambda: cleared.append(True))
    for k in range(5):  # 5 formulas through an LRU of 2: 3 dropped
        api.landscape({"formula": f"x**2 + {k + 2}*y**2", "grid": 8})
    assert cleared  # cleared once 2 were dropped
    body = {"formula": "x**2 + 9*y**2", "start": [1.0, 1.0], "optimizers": ["gd"]}
    assert api.run(body)["runs"][0]["status"] == "gtol"  # everything compiles again


def test_a_huge_integer_is_a_bad_number_not_an_error():
    big = int("1" + "0" * 400)
    with pytest.raises(api.ApiError) as e:
        api.run({"function": "booth", "start": [big, 1], "optimizers": ["gd"]})
    assert e.value.status == 400 and "finite" in str(e.value.body())
