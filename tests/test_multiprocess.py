"""ds.fit and ds.minimize_batch over two processes (one CPU device each, gloo
collectives on localhost) against the same calls in one process.

Each launched run is bounded by the launcher's --timeout and a hard subprocess timeout,
and skipped where a loopback TCP port cannot be opened. The processes write what they
got to .npz files; the references are computed here, in this one process.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import jax
import numpy as np
import pytest
from helpers import ENV, needs_ports, run_launch

import descend as ds

pytestmark = needs_ports

FIT = """
import pathlib, sys, numpy as np
import descend as ds
info = ds.distributed.initialize()
import jax
out = pathlib.Path({folder!r})
me = info.process_id

def flat(tree):
    return np.concatenate([np.ravel(l) for l in jax.tree.leaves(tree)])

train, val = ds.data.load("digits").split(val=0.15, test=0.15, seed=0)[:2]
kw = dict(batch_size=32, epochs=6, dtype="float64", seed=1)
got = {{}}
for mode, (tr, va) in (("whole", (train, val)), ("local", (train.part(), val.part()))):
    for name, model, opt in (("mlp", ds.models.mlp([8]), ds.adam(1e-2)),
                             ("softmax", ds.models.softmax(), ds.gd(0.1))):
        r = ds.fit(model, tr, opt, validation=va, local_rows=mode == "local", **kw)
        got[f"{{mode}}/{{name}}/params"] = flat(r.params)
        got[f"{{mode}}/{{name}}/batch_loss"] = r.history.batch_loss
        got[f"{{mode}}/{{name}}/val_loss"] = r.history.val_loss
        got[f"{{mode}}/{{name}}/epochs"] = np.asarray(r.epochs)
cancer = ds.data.load("breast_cancer").split(seed=0)[0]
r = ds.fit(ds.models.logistic(), cancer, ds.gd(0.5), batch_size=None, epochs=40,
           dtype="float64")
got["full/params"], got["full/loss"] = flat(r.params), r.history.train_loss
# float32 (the default), a penalty, adam's state; and a loss of one's own
r = ds.fit(ds.models.mlp([8], l2=0.01), train, ds.adam(1e-2), validation=val, batch_size=32,
           epochs=3, seed=1)
got["f32/params"], got["f32/loss"] = flat(r.params), r.history.train_loss
own = ds.models.custom(lambda p, X, y: jax.numpy.mean((X @ p["w"] - y) ** 2))
r = ds.fit(own, (train.X, train.y.astype(float)), ds.gd(1e-3), params={{"w": np.zeros(64)}},
           batch_size=32, epochs=3, dtype="float64", seed=1)
got["custom/params"] = flat(r.params)

# checkpoints: written once (by process 0), and a resume continues exactly
model, opt = ds.models.mlp([16]), ds.adam(1e-3)
ck = dict(batch_size=50, validation=val, seed=3, dtype="float64")
straight = ds.fit(model, train, opt, epochs=6, checkpoint=out / "a", **ck)
ds.fit(model, train, opt, epochs=3, checkpoint=out / "b", **ck)
resumed = ds.fit(model, train, opt, epochs=6, resume=out / "b", **ck)
got["resume/same"] = np.asarray(
    np.array_equal(flat(straight.params), flat(resumed.params))
    and np.array_equal(straight.history.batch_loss, resumed.history.batch_loss))
got["resume/params"] = flat(resumed.params)
got["resume/files"] = np.asarray(sorted(p.name for p in (out / "b").iterdir()))
r = ds.fit(ds.models.mlp([32]), train, ds.adam(3e-2), validation=val, batch_size=32,
           epochs=40, early_stopping=3, dtype="float64", seed=2)
got["early/params"] = flat(r.params)
got["early/epochs"] = np.asarray([r.epochs, r.best_epoch])
np.savez(out / f"fit-{{me}}.npz", **got)
print("done", me)
"""


def _flat(tree) -> np.ndarray:
    return np.concatenate([np.ravel(l) for l in jax.tree.leaves(tree)])


@pytest.fixture(scope="module")
def two_process_fits(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fit2")
    p = run_launch(2, FIT.format(folder=str(folder)), timeout=400)
    assert p.returncode == 0, (p.stdout + p.stderr)[-4000:]
    return [dict(np.load(folder / f"fit-{i}.npz")) for i in range(2)]


def test_two_processes_train_the_same_model_as_one(two_process_fits):
    zero, one = two_process_fits
    for key in zero:  # every process gets the whole, same result
        assert np.array_equal(zero[key], one[key]), key
    train, val = ds.data.load("digits").split(val=0.15, test=0.15, seed=0)[:2]
    kw = dict(batch_size=32, epochs=6, dtype="float64", seed=1, validation=val)
    for name, model, opt in (
        ("mlp", ds.models.mlp([8]), ds.adam(1e-2)),
        ("softmax", ds.models.softmax(), ds.gd(0.1)),
    ):
        ref = ds.fit(model, train, opt, **kw)
        for mode in ("whole", "local"):  # the same data, given whole or in parts
            got = lambda f: zero[f"{mode}/{name}/{f}"]  # noqa: E731
            assert int(got("epochs")) == ref.epochs == 6
            # only the order of the gradient's sum differs (two partial sums)
            np.testing.assert_allclose(got("params"), _flat(ref.params), rtol=0, atol=1e-9)
            np.testing.assert_allclose(got("batch_loss"), ref.history.batch_loss, atol=1e-9)
            np.testing.assert_allclose(got("val_loss"), ref.history.val_loss, atol=1e-9)
    cancer = ds.data.load("breast_cancer").split(seed=0)[0]
    ref = ds.fit(
        ds.models.logistic(), cancer, ds.gd(0.5), batch_size=None, epochs=40, dtype="float64"
    )
    np.testing.assert_allclose(zero["full/params"], _flat(ref.params), rtol=0, atol=1e-9)
    np.testing.assert_allclose(zero["full/loss"], ref.history.train_loss, rtol=0, atol=1e-9)
    ref = ds.fit(
        ds.models.mlp([8], l2=0.01), train, ds.adam(1e-2), validation=val, batch_size=32,
        epochs=3, seed=1,
    )  # fmt: skip
    assert zero["f32/params"].dtype == np.float32
    np.testing.assert_allclose(zero["f32/params"], _flat(ref.params), rtol=0, atol=1e-5)
    np.testing.assert_allclose(zero["f32/loss"], ref.history.train_loss, rtol=1e-5)
    own = ds.models.custom(lambda p, X, y: jax.numpy.mean((X @ p["w"] - y) ** 2))
    ref = ds.fit(
        own, (train.X, train.y.astype(float)), ds.gd(1e-3), params={"w": np.zeros(64)},
        batch_size=32, epochs=3, dtype="float64", seed=1,
    )  # fmt: skip
    np.testing.assert_allclose(zero["custom/params"], _flat(ref.params), rtol=0, atol=1e-9)


def test_two_processes_checkpoint_once_and_resume_exactly(two_process_fits):
    zero, _ = two_process_fits
    assert bool(zero["resume/same"])  # 6 straight == 3 + resume + 3, bitwise
    assert list(zero["resume/files"]) == ["checkpoint.npz"]  # no temporary left behind
    train, val = ds.data.load("digits").split(val=0.15, test=0.15, seed=0)[:2]
    ref = ds.fit(
        ds.models.mlp([16]), train, ds.adam(1e-3), epochs=6, batch_size=50, validation=val,
        seed=3, dtype="float64",
    )  # fmt: skip
    np.testing.assert_allclose(zero["resume/params"], _flat(ref.params), rtol=0, atol=1e-9)


def test_two_processes_stop_early_where_one_process_does(two_process_fits):
    zero, _ = two_process_fits
    train, val = ds.data.load("digits").split(val=0.15, test=0.15, seed=0)[:2]
    ref = ds.fit(
        ds.models.mlp([32]), train, ds.adam(3e-2), validation=val, batch_size=32, epochs=40,
        early_stopping=3, dtype="float64", seed=2,
    )  # fmt: skip
    assert ref.status == "early_stopped" and ref.best_epoch < ref.epochs < 40
    assert list(zero["early/epochs"]) == [ref.epochs, ref.best_epoch]
    np.testing.assert_allclose(zero["early/params"], _flat(ref.params), rtol=0, atol=1e-9)


BATCH = """
import pathlib, numpy as np
import descend as ds
me = 0
if {processes} > 1:
    me = ds.distributed.initialize().process_id
import jax
x0s = np.random.default_rng(0).uniform(-4, 4, (37, 2))  # 37: padded to 38 runs
h = ds.minimize_batch("himmelblau", x0s, ds.gd(0.01), history=True, max_steps=400)
q = ds.minimize_batch(lambda x: x[0] ** 2 + 10 * x[1] ** 2, x0s, "momentum",
                      learning_rates=[0.001, 0.01, 0.05, 0.2], max_steps=2000)
got = dict(hx=h.x, hfun=h.fun, hnit=h.nit, hf=h.history.fun, qx=q.x, qnit=q.nit,
           qstatus=np.asarray([s.value for s in q.status.ravel()]),
           qmessage=np.asarray(q.message.ravel().tolist()), devices=jax.device_count())
np.savez(pathlib.Path({folder!r}) / f"batch-{processes}-{{me}}.npz", **got)
"""


def test_a_two_process_batch_equals_the_one_process_batch(tmp_path):
    p = run_launch(2, BATCH.format(folder=str(tmp_path), processes=2), timeout=200)
    assert p.returncode == 0, (p.stdout + p.stderr)[-4000:]
    # the same partition in one process: two devices of its own
    env = dict(ENV, XLA_FLAGS="--xla_force_host_platform_device_count=2")
    code = textwrap.dedent(BATCH.format(folder=str(tmp_path), processes=1))
    one = subprocess.run([sys.executable, "-c", code], env=env, timeout=300, capture_output=True)
    assert one.returncode == 0, one.stderr[-3000:]
    files = ("batch-2-0.npz", "batch-2-1.npz", "batch-1-0.npz")
    zero, first, same = (dict(np.load(tmp_path / f)) for f in files)
    assert int(zero["devices"]) == int(same["devices"]) == 2
    for key in zero:
        assert np.array_equal(zero[key], first[key]), key  # each process: the whole result
        a, b = zero[key], same[key]  # as one process computes it on two devices of its own
        if a.dtype.kind == "f":
            np.testing.assert_allclose(a, b, rtol=0, atol=1e-12, err_msg=key)
        else:
            np.testing.assert_array_equal(a, b, err_msg=key)
    # and as the plain one-device batch computes it, up to rounding
    x0s = np.random.default_rng(0).uniform(-4, 4, (37, 2))
    h = ds.minimize_batch("himmelblau", x0s, ds.gd(0.01), history=True, max_steps=400)
    np.testing.assert_allclose(zero["hx"], h.x, rtol=0, atol=1e-9)
    np.testing.assert_array_equal(zero["hnit"], h.nit)
    np.testing.assert_allclose(zero["hf"], h.history.fun, rtol=1e-9, atol=1e-12)
    q = ds.minimize_batch(
        lambda x: x[0] ** 2 + 10 * x[1] ** 2, x0s, "momentum",
        learning_rates=[0.001, 0.01, 0.05, 0.2], max_steps=2000,
    )  # fmt: skip
    assert [s.value for s in q.status.ravel()] == list(zero["qstatus"])
    np.testing.assert_array_equal(zero["qnit"], q.nit)
    np.testing.assert_allclose(zero["qx"], q.x, rtol=0, atol=1e-9)


def test_processes_that_disagree_are_refused_in_every_process(tmp_path):
    p = run_launch(
        2,
        """
        import numpy as np
        import descend as ds
        info = ds.distributed.initialize()
        me = info.process_id
        def refused(call, words):
            try:
                call()
            except ValueError as e:
                assert words in str(e), e
                print("refused", words)
            else:
                raise AssertionError("not refused: " + words)
        x0s = np.zeros((4, 2)) + me  # each process its own starts
        refused(lambda: ds.minimize_batch("sphere", x0s), "x0s differs between processes")
        iris = ds.data.load("iris")
        refused(lambda: ds.fit(ds.models.softmax(), iris.part(), epochs=1),
                "differ between process 0 and process 1")
        refused(lambda: ds.fit(ds.models.softmax(), iris, epochs=1, devices=1),
                "devices must be 2 or unset")
        refused(lambda: ds.fit(ds.models.softmax(), iris, batch_size=33, epochs=1),
                "multiple of the 2 devices")
        # and after all that, the processes still compute together
        r = ds.minimize_batch("sphere", np.ones((3, 2)), max_steps=5)
        print("nit", r.nit.tolist())

        # process 0 decides between chunks: its callback's stop stops every process
        def stop_on_zero(snapshot):
            if me == 0:
                raise StopIteration
        r = ds.minimize_batch("sphere", np.ones((3, 2)), ds.gd(1e-4), gtol=0.0,
                              max_steps=1000, chunk_size=10, callback=stop_on_zero)
        print("callback", sorted({s.value for s in r.status.ravel()}), r.nit.tolist())
        f = ds.fit(ds.models.softmax(), iris, ds.gd(0.1), epochs=50, batch_size=30,
                   callback=stop_on_zero)
        print("fit callback", f.status.value, f.epochs)
        """,
        timeout=200,
    )
    assert p.returncode == 0, (p.stdout + p.stderr)[-4000:]
    nit = ds.minimize_batch("sphere", np.ones((3, 2)), max_steps=5).nit.tolist()
    for i in range(2):
        for words in ("x0s differs", "differ between process 0", "devices must be 2"):
            assert any(l.startswith(f"[{i}] refused {words}") for l in p.stdout.splitlines())
        assert f"[{i}] nit {nit}" in p.stdout.splitlines(), p.stdout
        assert f"[{i}] callback ['stopped'] [10, 10, 10]" in p.stdout.splitlines(), p.stdout
        assert f"[{i}] fit callback stopped 1" in p.stdout.splitlines(), p.stdout


def test_dataset_part_splits_rows_in_blocks():
    iris = ds.data.load("iris")
    parts = [iris.part(i, 4) for i in range(4)]
    assert [len(p) for p in parts] == [38, 38, 37, 37]
    np.testing.assert_array_equal(np.concatenate([p.X for p in parts]), iris.X)
    assert all(p.classes == iris.classes for p in parts)
    assert len(iris.part()) == len(iris)  # one process: all of it
    with pytest.raises(ValueError, match="index must be below count"):
        iris.part(4, 4)
    with pytest.raises(TypeError, match="count must be a whole number"):
        iris.part(0, 2.0)
    with pytest.raises(TypeError, match="local_rows must be True or False"):
        ds.fit(ds.models.softmax(), iris, epochs=1, local_rows="yes")
    assert os.environ.get("DESCEND_PROCESS_ID") is None
