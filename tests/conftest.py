import os

# Tests run on the CPU; a second virtual device lets the batch tests exercise sharding
# in-process where XLA_FLAGS is already set (the subprocess test sets it itself).
os.environ.setdefault("JAX_PLATFORMS", "cpu")
