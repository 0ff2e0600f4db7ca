"""ds.fit over several local devices (data parallel): each mini-batch split over the
devices, the same fit as on one device up to the order of the gradient's sum, a resume
bitwise on the same device count. The two-device checks run in a subprocess with two
virtual CPU devices (``--xla_force_host_platform_device_count=2``)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import jax
import pytest

import descend as ds
from descend._fit import checkpoint as ckpt

PRELUDE = """
import jax, jax.numpy as jnp, numpy as np, pytest, descend as ds
from descend._fit import checkpoint as ckpt
from descend._fit.program import programs
from descend._fit.setup import prepare
assert jax.local_device_count() == 2, jax.devices()

def leaves(a):
    return [np.asarray(l) for l in jax.tree.leaves(a)]

def close(a, b, tol=1e-6):
    return all(np.allclose(x, y, rtol=0, atol=tol) for x, y in zip(leaves(a), leaves(b)))

def same(a, b):
    return all(np.array_equal(x, y) for x, y in zip(leaves(a), leaves(b)))

def history_same(a, b, fields=("train_loss", "val_loss", "val_accuracy", "batch_loss")):
    return all(np.array_equal(getattr(a.history, f), getattr(b.history, f)) for f in fields)

digits = ds.data.load("digits").split(val=0.15, test=0.15, seed=0)[:2]  # 1,259 + 269 rows
iris = ds.data.load("iris").split(seed=0)[0]
"""


def two_devices(code: str) -> str:
    """Run ``code`` (after PRELUDE) in a new process with two CPU devices; its stdout."""
    env = dict(
        os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2", JAX_PLATFORMS="cpu"
    )
    out = subprocess.run(
        [sys.executable, "-c", PRELUDE + textwrap.dedent(code)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


def test_two_devices_fit_as_one_device_does():
    code = """
    train, val = digits
    assert len(train) % 32 % 2 == 1  # the leftover batch: whole on each device
    kw = dict(batch_size=32, epochs=8, dtype="float64", seed=1, validation=val)
    for model, opt in ((ds.models.mlp([8]), ds.adam(1e-2)), (ds.models.softmax(), ds.gd(0.1))):
        two = ds.fit(model, train, opt, **kw)  # all local devices: two
        one = ds.fit(model, train, opt, devices=1, **kw)
        assert two.epochs == one.epochs == 8
        assert close(two.params, one.params), model
        for f in ("train_loss", "val_loss", "batch_loss"):
            assert close(getattr(two.history, f), getattr(one.history, f)), f
    # iris (150 rows): the leftover batch (22 rows) and the full batch split too; the
    # full batch of the 1,259 digits rows is whole on each device
    assert len(iris) % 32 % 2 == 0 and len(iris) % 2 == 0
    for data, bs in ((iris, 32), (iris, None), (train, None)):  # full: split, whole
        kw = dict(batch_size=bs, epochs=6, dtype="float64", seed=2)
        two = ds.fit(ds.models.mlp([8]), data, ds.adam(1e-2), **kw)
        one = ds.fit(ds.models.mlp([8]), data, ds.adam(1e-2), devices=1, **kw)
        assert close(two.params, one.params)
        assert close(two.history.batch_loss, one.history.batch_loss)

    # Really split: the data and parameters on both devices, the gradient summed across
    # them in the compiled program; one device compiles no collective at all.
    kw = dict(params=None, batch_size=32, epochs=2, validation=None, early_stopping=None,
              min_delta=0.0, gtol=1e-6, seed=1, dtype="float64", checkpoint=None,
              resume=None, diverge_factor=1e8)
    for devices, reduces in ((None, True), (1, False)):
        s = prepare(ds.models.mlp([8]), train, ds.adam(1e-2), devices=devices, **kw)
        assert s.shape.devices == (2 if reduces else 1)
        state = s.first_run().train
        for leaf in (s.data[0], *jax.tree.leaves(state.params)):
            assert len(leaf.sharding.device_set) == s.shape.devices
            assert leaf.sharding.is_fully_replicated
        _, run = programs(s.model, s.shape)
        text = run.lower(state, s.data, s.nums, jnp.int32(1)).compile().as_text()
        assert ("all-reduce" in text) == reduces

    # A batch size that does not divide by the device count: refused, naming sizes that do.
    with pytest.raises(ValueError, match=r"multiple of the 2 devices .*32 or 34\\), got 33"):
        ds.fit(ds.models.mlp([8]), train, batch_size=33, epochs=1)
    with pytest.raises(ValueError, match=r"\\(e.g. 2\\), got 1"):
        ds.fit(ds.models.mlp([8]), train, batch_size=1, epochs=1)
    odd = ds.fit(ds.models.mlp([8]), train, batch_size=33, epochs=1, devices=1)
    assert odd.epochs == 1
    with pytest.raises(ValueError, match="at most the 2 local device"):
        ds.fit(ds.models.mlp([8]), train, epochs=1, devices=3)
    print("ok")
    """
    assert two_devices(code).strip().endswith("ok")


def test_resume_on_two_devices_is_bitwise_on_the_same_device_count(tmp_path):
    code = f"""
    import pathlib
    tmp = pathlib.Path({str(tmp_path)!r})
    train, val = digits
    model, opt = ds.models.mlp([16]), ds.adam(1e-3)
    kw = dict(batch_size=50, validation=val, seed=3, dtype="float64")
    straight = ds.fit(model, train, opt, epochs=10, checkpoint=tmp / "a", **kw)
    plain = ds.fit(model, train, opt, epochs=10, **kw)  # no checkpoint: chunks of epochs
    first = ds.fit(model, train, opt, epochs=5, checkpoint=tmp / "b", **kw)
    assert first.epochs == 5 and ckpt.load(tmp / "b")[0]["devices"] == 2
    resumed = ds.fit(model, train, opt, epochs=10, resume=tmp / "b", **kw)
    assert resumed.epochs == 10
    for other in (straight, plain):
        assert same(resumed.params, other.params) and history_same(resumed, other)

    # Another device count would not continue it exactly: refused, nothing written.
    before = (tmp / "b" / "checkpoint.npz").read_bytes()
    with pytest.raises(ValueError, match="written on 2 device.*devices=1"):
        ds.fit(model, train, opt, epochs=12, resume=tmp / "b", devices=1, **kw)
    assert (tmp / "b" / "checkpoint.npz").read_bytes() == before

    # A one-device checkpoint resumes on one device (devices unset: the checkpoint's).
    one = ds.fit(model, train, opt, epochs=6, devices=1, **kw)
    ds.fit(model, train, opt, epochs=3, devices=1, checkpoint=tmp / "c", **kw)
    again = ds.fit(model, train, opt, epochs=6, resume=tmp / "c", **kw)
    assert same(again.params, one.params) and history_same(again, one)
    assert ckpt.load(tmp / "c")[0]["devices"] == 1
    with pytest.raises(ValueError, match="written on 1 device.*devices=2"):
        ds.fit(model, train, opt, epochs=8, resume=tmp / "c", devices=2, **kw)
    print("ok")
    """
    assert two_devices(code).strip().endswith("ok")


def test_on_one_device_a_fit_asks_for_no_more(tmp_path):
    if jax.local_device_count() != 1:
        pytest.skip("this process has several devices")
    data = ds.data.load("iris")
    with pytest.raises(ValueError, match="devices must be at most the 1 local device"):
        ds.fit(ds.models.softmax(), data, epochs=1, devices=2)
    with pytest.raises(ValueError, match="devices"):
        ds.fit(ds.models.softmax(), data, epochs=1, devices=0)
    ds.fit(ds.models.softmax(), data, epochs=1, batch_size=33, checkpoint=tmp_path / "a")
    assert ckpt.load(tmp_path / "a")[0]["devices"] == 1
    # A checkpoint written on two devices cannot continue here.
    header, arrays = ckpt.load(tmp_path / "a")
    ckpt.save(tmp_path / "b", {**header, "devices": 2}, arrays)
    with pytest.raises(ValueError, match="written on 2 devices, this process has 1"):
        ds.fit(ds.models.softmax(), data, epochs=2, batch_size=33, resume=tmp_path / "b")
