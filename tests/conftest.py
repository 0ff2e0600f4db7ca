import atexit
import os
import shutil
import tempfile

import pytest

# Tests run on the CPU; a second virtual device lets the batch tests exercise sharding
# in-process where XLA_FLAGS is already set (the subprocess test sets it itself).
os.environ.setdefault("JAX_PLATFORMS", "cpu")

# Every test session compiles from scratch, as on a fresh machine: descend's persistent
# compilation cache goes to a new, empty, private directory (inherited by the command
# line and notebook subprocesses), never the user's ~/.cache/descend/jax.
_CACHE = tempfile.mkdtemp(prefix="descend-test-jax-cache-")
os.environ["DESCEND_CACHE_DIR"] = _CACHE
os.environ.pop("JAX_COMPILATION_CACHE_DIR", None)  # a cache of the user's own: not here
os.environ.pop("DESCEND_CACHE", None)
atexit.register(shutil.rmtree, _CACHE, ignore_errors=True)


@pytest.fixture(params=["mapped", "blocks"])
def batch_engine(request, monkeypatch):
    """Runs a test on both batch loops: runs one after another (small batches) and
    blocks of vmapped steps (large ones)."""
    from descend._engine import plan

    limit = 0 if request.param == "blocks" else 2**62
    monkeypatch.setattr(plan, "MAPPED_MAX_RUN_STEPS", limit)
    return request.param
