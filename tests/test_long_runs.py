"""Chunks: progress, callback (StopIteration), KeyboardInterrupt and Ctrl-C."""

import os
import signal

import jax.numpy as jnp
import numpy as np
import pytest

import descend as ds


def slow_quadratic(x):
    return 0.5 * jnp.sum(jnp.arange(1.0, 4.0) * x**2)


def test_callback_sees_progress_and_stopiteration_stops():
    seen = []

    def cb(r):
        seen.append((r.nit, r.fun))
        if r.nit >= 30:
            raise StopIteration

    res = ds.minimize(
        slow_quadratic,
        np.ones(3),
        ds.gd(1e-4),
        gtol=0.0,
        max_steps=100_000,
        callback=cb,
        chunk_size=10,
    )
    assert res.status == "stopped" and not res.success and res.nit == 30
    assert [n for n, _ in seen] == [10, 20, 30]
    assert res.history.x.shape == (31, 3)
    # Nothing lost: the stopped run equals the same 30 steps run straight through.
    ref = ds.minimize(slow_quadratic, np.ones(3), ds.gd(1e-4), gtol=0.0, max_steps=30)
    np.testing.assert_array_equal(res.x, ref.x)
    np.testing.assert_array_equal(res.history.fun, ref.history.fun)
    assert "stopped by the callback after 30 steps" in res.message


def test_chunk_size_one_calls_back_every_step():
    steps = []
    ds.minimize(
        slow_quadratic,
        np.ones(3),
        ds.gd(0.1),
        gtol=0.0,
        max_steps=5,
        callback=lambda r: steps.append(r.nit),
        chunk_size=1,
    )
    assert steps == [1, 2, 3, 4]


def test_keyboard_interrupt_in_callback_returns_partial_result():
    def cb(r):
        if r.nit >= 50:
            raise KeyboardInterrupt

    res = ds.minimize(
        slow_quadratic,
        np.ones(3),
        ds.gd(1e-4),
        gtol=0.0,
        max_steps=10_000,
        callback=cb,
        chunk_size=25,
    )
    assert res.status == "interrupted" and res.nit == 50 and len(res.history) == 51
    assert "interrupted after 50 steps" in res.message


def ctrl_c():
    """A real SIGINT to this process, as Ctrl-C sends (delivered before os.kill returns)."""
    os.kill(os.getpid(), signal.SIGINT)


@pytest.fixture(autouse=True)
def sigint_raises():
    # As in an interactive Python, whatever this process inherited (a test runner
    # started in the background ignores SIGINT).
    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, old)


def assert_handler_restored():
    # The run's Ctrl-C handler is gone: a later SIGINT raises KeyboardInterrupt as usual.
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_real_ctrl_c_while_stepping_returns_partial_result():
    calls = []

    def cb(r):  # the signal arrives from inside the first callback, after 40 steps
        calls.append(r.nit)
        ctrl_c()

    res = ds.minimize(
        slow_quadratic,
        np.ones(3),
        ds.gd(1e-9),
        gtol=0.0,
        max_steps=1_000_000,
        history=("fun",),
        record_every=10,
        callback=cb,
        chunk_size=40,
    )
    assert calls == [40]
    assert (
        res.status == "interrupted"
        and res.nit == 40
        and "interrupted after 40 steps" in res.message
    )
    np.testing.assert_array_equal(res.history.steps, [0, 10, 20, 30, 40])
    # f along the way is the closed form: gd scales x_i by (1 - 1e-9 i) each step.
    scale = (1 - 1e-9 * np.arange(1.0, 4.0)) ** res.history.steps[:, None]
    np.testing.assert_allclose(res.history.fun, 0.5 * (np.arange(1.0, 4.0) * scale**2).sum(1))
    assert_handler_restored()


def _fresh_quadratic():
    # A new function object each time, so the run is traced and compiled anew.
    return lambda x: 0.5 * jnp.sum(jnp.arange(1.0, 4.0) * x**2)


def test_real_ctrl_c_while_tracing_returns_the_start():
    f = _fresh_quadratic()
    sent = []

    def traced(x):
        if not sent:  # Python code in fun runs while JAX traces it
            sent.append(1)
            ctrl_c()
        return f(x)

    res = ds.minimize(traced, np.ones(3), ds.gd(0.1), gtol=0.0, max_steps=1000)
    assert sent and res.status == "interrupted" and res.nit == 0 and not res.success
    np.testing.assert_array_equal(res.x, np.ones(3))
    assert res.fun == 3.0 and res.history.fun.tolist() == [3.0]  # 0.5 (1 + 2 + 3)
    np.testing.assert_array_equal(res.jac, [1.0, 2.0, 3.0])
    assert_handler_restored()


@pytest.mark.parametrize("batch", [False, True])
def test_real_ctrl_c_while_compiling_returns_a_result(batch):
    import jax

    f = _fresh_quadratic()
    sent = []

    def on_event(event, value, **kw):  # JAX reports each XLA compilation as it starts
        if event == "/jax/core/compile/backend_compile_duration" and not sent:
            sent.append(event)
            ctrl_c()

    jax.monitoring.register_scalar_listener(on_event)
    try:
        if batch:
            res = ds.minimize_batch(f, np.ones((4, 3)), ds.gd(1e-3), gtol=0.0, max_steps=1000)
        else:
            res = ds.minimize(f, np.ones(3), ds.gd(1e-3), gtol=0.0, max_steps=1000)
    finally:
        jax.monitoring.unregister_scalar_listener(on_event)
    assert sent
    statuses = [res.status] if not batch else list(res.status)
    assert statuses and all(s == "interrupted" for s in statuses)
    # The compilation finishes, then the run stops before its first step.
    assert np.all(np.asarray(res.nit) == 0)
    np.testing.assert_array_equal(np.asarray(res.fun).ravel(), 3.0)
    assert_handler_restored()


def test_progress_bar_runs_and_changes_nothing(capsys):
    a = ds.minimize(
        slow_quadratic, np.ones(3), ds.gd(0.01), gtol=1e-8, progress=True, chunk_size=100
    )
    b = ds.minimize(slow_quadratic, np.ones(3), ds.gd(0.01), gtol=1e-8)
    assert a.nit == b.nit and np.array_equal(a.x, b.x)
    err = capsys.readouterr()
    assert "step" in err.out + err.err


def test_batch_callback_and_stop():
    calls = []

    def cb(b):
        calls.append(b.nit.copy())
        raise StopIteration

    b = ds.minimize_batch(
        slow_quadratic,
        np.ones((4, 3)),
        ds.gd(1e-4),
        gtol=0.0,
        max_steps=1000,
        callback=cb,
        chunk_size=7,
    )
    assert all(s == "stopped" for s in b.status) and list(b.nit) == [7] * 4
    assert calls[0].tolist() == [7, 7, 7, 7]


def test_intermediate_results_print_and_count_line_search_evaluations():
    import optax

    texts, counts = [], []

    def cb(r):
        texts.append(repr(r))
        counts.append(r.nfev)

    res = ds.minimize(
        slow_quadratic, np.ones(3), optax.lbfgs(), gtol=1e-12, callback=cb, chunk_size=1
    )
    assert texts and "running" in texts[0]
    assert counts == sorted(counts) and counts[-1] <= res.nfev
    b = ds.minimize_batch(
        slow_quadratic,
        np.ones((2, 3)),
        ds.gd(0.1),
        max_steps=6,
        callback=lambda r: texts.append(repr(r)),
        chunk_size=2,
    )
    assert "running" in texts[-1] and b.nit.tolist() == [6, 6]


def test_ctrl_c_during_a_run_that_ends_in_a_replay(monkeypatch):
    # Above KEEP_PREV_MAX_SIZE parameters a nan is answered by replaying the run to its
    # last finite iterate; a Ctrl-C that came meanwhile must not cut the replay short.
    import jax

    from descend._engine import plan

    monkeypatch.setattr(plan, "KEEP_PREV_MAX_SIZE", 1)
    sent = []

    def once(value):  # Ctrl-C as the run meets its nan, inside the compiled loop
        if not np.isfinite(value) and not sent:
            sent.append(1)
            ctrl_c()

    def f(x):  # with lr 5 from (1.2, 0.8): finite at steps 0 and 1, nan at step 2
        value = jnp.sum(x - jnp.log(x))
        jax.debug.callback(once, value)
        return value

    res = ds.minimize(f, jnp.array([1.2, 0.8]), ds.gd(5.0), max_steps=100)
    assert sent and res.status == "nonfinite" and res.nit == 2
    # x1 = x0 - 5 (1 - 1/x0): the last finite iterate, not the start.
    x0 = np.array([1.2, 0.8])
    np.testing.assert_allclose(res.x, x0 - 5 * (1 - 1 / x0), rtol=1e-12)
    assert_handler_restored()
