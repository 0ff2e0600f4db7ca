#!/usr/bin/env bash
# Do the engine's compiled programs stay the same? Lowers the loops (one run, one run
# with a callback, one large run, batches in blocks with each kind of rule) at a
# revision and in the working tree, and compares their StableHLO, locations aside.
#   scripts/same_programs.sh [REV]      (default HEAD)
set -euo pipefail
rev=${1:-HEAD}
root=$(git rev-parse --show-toplevel)
py=${PYTHON:-$root/.venv/bin/python}
work=$(mktemp -d)
trap 'git -C "$root" worktree remove --force "$work/old" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
git -C "$root" worktree add -q --detach "$work/old" "$rev"
cat > "$work/runs.py" <<'PY'
import importlib
import jax.numpy as jnp
import descend as ds
try:  # the engine's plan module, or the one module of revisions before it
    plan = importlib.import_module("descend._engine.plan")
except ImportError:
    plan = importlib.import_module("descend.loop")
if hasattr(plan, "MAPPED_MAX_RUN_STEPS"):
    plan.MAPPED_MAX_RUN_STEPS = 0  # batches in blocks, as large batches run
f = lambda w: (w[0] - 1) ** 2 + 2 * (w[1] + 2) ** 2 + 3 * (w[2] - 0.5) ** 2  # noqa: E731
z = jnp.zeros((5, 3))
ds.minimize(f, jnp.zeros(3), ds.gd(0.1), max_steps=300)
ds.minimize(f, jnp.zeros(3), ds.adam(0.1), max_steps=300, callback=lambda r: None)
ds.minimize_batch(f, z, ds.gd, learning_rates=[0.01, 0.1], max_steps=300)
ds.minimize_batch(f, z, "adam", history=True, max_steps=300)
ds.minimize_batch(f, z, ds.gd, learning_rates=[0.01, 0.1], xtol=1e-9, ftol=1e-12, max_steps=300)
ds.minimize_batch(f, z.astype(jnp.float32), ds.gd, learning_rates=[0.1], xtol=1e-6, max_steps=300)
plan.KEEP_PREV_MAX_SIZE = 1  # the large-run loop
ds.minimize(f, jnp.zeros(3), ds.gd(0.1), max_steps=300)
PY
for side in old new; do
  src=$root/src; [ "$side" = old ] && src=$work/old/src
  DESCEND_CACHE=0 JAX_DUMP_IR_TO=$work/dump_$side PYTHONPATH=$src "$py" "$work/runs.py"
done
norm() { grep -v '^#loc' "$1" | sed -E 's/ loc\(.*$//; s/(jit_|@)_?init(_state)?/\1INIT/g'; }
mapfile -t old < <(ls "$work"/dump_old/*.mlir | sort)
mapfile -t new < <(ls "$work"/dump_new/*.mlir | sort)
status=0
[ "${#old[@]}" = "${#new[@]}" ] || { echo "different numbers of programs: ${#old[@]} and ${#new[@]}"; status=1; }
for i in "${!new[@]}"; do
  if [ -n "${old[$i]:-}" ] && diff -q <(norm "${old[$i]}") <(norm "${new[$i]}") >/dev/null; then
    echo "same      $(basename "${new[$i]}")"
  else
    echo "DIFFERENT $(basename "${new[$i]}")"; status=1
  fi
done
exit $status
