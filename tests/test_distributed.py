"""Several processes on one machine: ``descend launch`` and ``ds.distributed.initialize``.

Every process-starting test is bounded in time (``subprocess.run(timeout=...)`` or the
launcher's own ``timeout``) and skipped where a loopback TCP port cannot be opened.
JAX programs run with one CPU device per process (gloo collectives).
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from helpers import ENV, needs_ports, run_launch

import descend as ds
from descend.launch import launch


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - someone else's process by now
        return True
    try:  # a zombie nobody reaped (no init in a container) is gone all the same
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _gone(pid: int, within: float = 5.0) -> bool:
    deadline = time.monotonic() + within
    while _alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


# --------------------------------------------------------------------------- real JAX processes
@needs_ports
def test_two_processes_initialize_and_see_two_devices():
    p = run_launch(
        2,
        """
        import descend as ds
        info = ds.distributed.initialize()
        import jax
        assert ds.distributed.initialize() == info  # a second call: no-op
        print("process", info.process_id, "of", ds.distributed.process_count(),
              "devices", jax.device_count(), len(info.local_devices),
              ds.distributed.is_initialized())
        """,
        timeout=90,
    )
    assert p.returncode == 0, p.stdout + p.stderr
    lines = p.stdout.splitlines()
    assert "[0] process 0 of 2 devices 2 1 True" in lines, p.stdout
    assert "[1] process 1 of 2 devices 2 1 True" in lines, p.stdout
    assert "descend launch:" not in p.stderr


@needs_ports
def test_a_data_parallel_sum_agrees_with_one_process():
    p = run_launch(
        2,
        """
        import numpy as np
        import descend as ds
        info = ds.distributed.initialize()
        import jax
        import jax.numpy as jnp
        from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

        mesh = Mesh(np.array(jax.devices()), ("p",))
        local = np.arange(3.0) + 10.0 * info.process_id  # this process's rows
        x = jax.make_array_from_process_local_data(NamedSharding(mesh, P("p")), local[None])
        total = jax.jit(lambda a: jnp.sum(a**2), out_shardings=NamedSharding(mesh, P()))(x)
        print("total", repr(float(total)), x.shape)
        """,
        timeout=90,
    )
    assert p.returncode == 0, p.stdout + p.stderr
    expected = float(sum((i * 10.0 + k) ** 2 for i in range(2) for k in range(3)))
    for i in range(2):
        assert f"[{i}] total {expected!r} (2, 3)" in p.stdout.splitlines(), p.stdout


# --------------------------------------------------------------------------- failures, timeout
CRASH = """
import os, subprocess, sys, time
here = {folder!r}
if os.environ["DESCEND_PROCESS_ID"] == "1":
    deadline = time.monotonic() + 30
    while not os.path.exists(os.path.join(here, "ready")) and time.monotonic() < deadline:
        time.sleep(0.05)
    sys.exit(3)
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
with open(os.path.join(here, "pids.tmp"), "w") as f:
    f.write(f"{{os.getpid()}} {{child.pid}}")
os.replace(os.path.join(here, "pids.tmp"), os.path.join(here, "pids"))
open(os.path.join(here, "ready"), "w").close()
time.sleep(60)
"""


@needs_ports
def test_a_crash_stops_everything_and_names_the_process(tmp_path):
    # bounded by run_launch's hard timeout: a launcher that hung would fail there
    p = run_launch(2, CRASH.format(folder=str(tmp_path)), timeout=60)
    assert p.returncode == 3, p.stdout + p.stderr
    assert "descend launch: process 1 exited with status 3; stopped the others" in p.stderr
    # the sleeping process and what it started are gone: no orphans
    for pid in map(int, (tmp_path / "pids").read_text().split()):
        assert _gone(pid), f"process {pid} outlived the launcher"


@needs_ports
def test_an_exception_after_initialize_ends_that_process_at_once():
    # Process 0 waits in a collective for process 1, which raises. A normal exit would
    # run the atexit handlers and JAX's shutdown, which waits for process 0 (gloo gives
    # up after 30 s), and both would end together; the excepthook ends process 1 at
    # once (its atexit handler never runs), so the launcher names it and stops process 0.
    p = run_launch(
        2,
        """
        import atexit
        import numpy as np
        import descend as ds
        info = ds.distributed.initialize()
        if info.process_id == 1:
            atexit.register(print, "atexit ran", flush=True)
            raise RuntimeError("boom in process 1")
        ds.minimize_batch("sphere", np.ones((4, 2)), max_steps=10**6, gtol=0.0, chunk_size=10)
        print("process 0 finished alone")
        """,
        timeout=120,
    )
    assert p.returncode == 1, p.stdout + p.stderr
    assert "[1] RuntimeError: boom in process 1" in p.stderr.splitlines()
    assert "descend launch: process 1 exited with status 1; stopped the others" in p.stderr
    assert "atexit ran" not in p.stdout and "finished alone" not in p.stdout


@needs_ports
def test_python_dash_m_and_the_api_agree_on_a_crash(tmp_path):
    out, err = io.StringIO(), io.StringIO()
    # process 1 says hi and ends well; process 0 waits for it, says hi and fails
    script = textwrap.dedent(
        f"""
        import os, sys, time
        flag = os.path.join({str(tmp_path)!r}, "one-done")
        if os.environ["DESCEND_PROCESS_ID"] == "1":
            print("hi", flush=True)
            open(flag, "w").close()
            sys.exit(0)
        deadline = time.monotonic() + 20
        while not os.path.exists(flag) and time.monotonic() < deadline:
            time.sleep(0.02)
        print("hi")
        sys.exit(5)
        """
    )
    status = launch(2, [sys.executable, "-c", script], timeout=30, stdout=out, stderr=err, env=ENV)
    assert status == 5  # not 124: it ended on the failure, before its own timeout
    assert sorted(out.getvalue().splitlines()) == ["[0] hi", "[1] hi"]
    assert "descend launch: process 0 exited with status 5" in err.getvalue()

    os.remove(tmp_path / "one-done")
    p = subprocess.run(
        [sys.executable, "-m", "descend.launch", "-n", "2", "--", sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=60,
    )
    assert p.returncode == 5, p.stderr
    assert "process 0 exited with status 5" in p.stderr


@needs_ports
def test_the_timeout_stops_everything_with_status_124(tmp_path):
    p = run_launch(
        2,
        f"""
        import os, time
        open(os.path.join({str(tmp_path)!r}, os.environ["DESCEND_PROCESS_ID"]), "w").write(
            str(os.getpid()))
        time.sleep(60)
        """,
        timeout=2,
    )
    assert p.returncode == 124, p.stdout + p.stderr
    assert "descend launch: timed out after 2 s; stopped processes 0, 1" in p.stderr
    for f in tmp_path.iterdir():
        assert _gone(int(f.read_text())), f"process {f.name} outlived the launcher"


# --------------------------------------------------------------------------- checks, no processes
@pytest.mark.parametrize(
    "kwargs, error, words",
    [
        ({"num_processes": 0}, ValueError, "num_processes"),
        ({"num_processes": "2"}, TypeError, "num_processes"),
        ({"num_processes": 2.0}, TypeError, "num_processes"),
        ({"num_processes": True}, TypeError, "num_processes"),
        ({"process_id": -1}, ValueError, "process_id"),
        ({"num_processes": 2, "process_id": 2}, ValueError, "process_id"),
        ({"coordinator_address": 1234}, TypeError, "coordinator_address"),
        ({"coordinator_address": "localhost"}, ValueError, "coordinator_address"),
        ({"coordinator_address": "localhost:99999"}, ValueError, "coordinator_address"),
        ({"local_device_ids": "0"}, TypeError, "local_device_ids"),
        ({"local_device_ids": [0, -1]}, ValueError, "local_device_ids"),
        ({"timeout": 0}, ValueError, "timeout"),
    ],
)
def test_initialize_refuses_bad_arguments(monkeypatch, kwargs, error, words):
    for var in ("DESCEND_COORDINATOR", "DESCEND_NUM_PROCESSES", "DESCEND_PROCESS_ID"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(error, match=words):
        ds.distributed.initialize(**kwargs)
    assert not ds.distributed.is_initialized()


def test_initialize_names_a_bad_environment_variable(monkeypatch):
    monkeypatch.setenv("DESCEND_NUM_PROCESSES", "two")
    with pytest.raises(ValueError, match="DESCEND_NUM_PROCESSES"):
        ds.distributed.initialize()
    monkeypatch.setenv("DESCEND_NUM_PROCESSES", "2")
    monkeypatch.setenv("DESCEND_PROCESS_ID", "5")
    with pytest.raises(ValueError, match="process_id"):
        ds.distributed.initialize()
    assert not ds.distributed.is_initialized()


def test_launch_refuses_bad_arguments():
    with pytest.raises(ValueError, match="n must be >= 1"):
        launch(0, ["true"])
    with pytest.raises(TypeError, match="list of strings"):
        launch(2, "python train.py")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="non-empty"):
        launch(2, [])
    with pytest.raises(ValueError, match="timeout"):
        launch(2, ["true"], timeout=-1)


@pytest.mark.parametrize(
    "args, words",
    [
        (["launch", "-n", "0", "--", "true"], "'-n'"),
        (["launch", "-n", "2", "--timeout", "0", "--", "true"], "--timeout"),
        (["launch", "-n", "2"], "no command"),
        (["launch", "--", "true"], "-n"),
        (["launch", "-n", "2", "--", "no-such-command-here"], "cannot start"),
    ],
)
def test_the_command_line_refuses_bad_options_in_one_line(capsys, args, words):
    from descend.cli import main

    assert main(args) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and err.startswith("descend: error:"), err
    assert words in err


def test_initialize_alone_joins_nothing(monkeypatch):
    for var in ("DESCEND_COORDINATOR", "DESCEND_NUM_PROCESSES", "DESCEND_PROCESS_ID"):
        monkeypatch.delenv(var, raising=False)
    for var in [v for v in os.environ if v.startswith(("SLURM_", "OMPI_"))]:
        monkeypatch.delenv(var)
    info = ds.distributed.initialize()
    assert (info.process_id, info.num_processes) == (0, 1)
    assert not ds.distributed.is_initialized()  # the same script runs as one process
