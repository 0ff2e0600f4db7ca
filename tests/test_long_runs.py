"""Chunks: progress, callback (StopIteration), KeyboardInterrupt and Ctrl-C."""

import os
import signal
import threading

import jax.numpy as jnp
import numpy as np

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


def test_real_ctrl_c_returns_partial_result():
    # A run far too long to finish; SIGINT arrives from another thread after 0.5 s.
    timer = threading.Timer(0.5, lambda: os.kill(os.getpid(), signal.SIGINT))
    timer.start()
    try:
        res = ds.minimize(
            slow_quadratic,
            np.ones(3),
            ds.gd(1e-9),
            gtol=0.0,
            max_steps=2_000_000_000,
            history=("fun",),
            record_every=1000,
        )
    finally:
        timer.cancel()
    assert res.status == "interrupted"
    assert 0 < res.nit < 2_000_000_000
    assert res.history.fun.shape == (len(res.history.steps),) and res.history.steps[-1] == res.nit
    # The handler is restored: a later SIGINT raises KeyboardInterrupt as usual.
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


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
