#!/usr/bin/env bash
# A new machine's first try: clone the current commit beside ../shared, with empty
# caches (pip, matplotlib, descend's compilation cache: a new XDG_CACHE_HOME) and no
# input, then run the README's two commands: `make demo`, then CI (`bash .ci/run`, which
# runs `make test`). Usage: scripts/fresh.sh [RUNS]; each run starts from scratch.
# Uncommitted changes are not tested: commit first.
set -euo pipefail
runs=${1:-1}
root=$(git rev-parse --show-toplevel)
commit=$(git -C "$root" rev-parse HEAD)
parent=$(dirname "$root")
[ -d "$parent/shared" ] || echo "note: no ../shared beside $root" >&2
[ -z "$(git -C "$root" status --porcelain --untracked-files=no)" ] ||
  echo "note: uncommitted changes are not part of this check" >&2
status=0
for i in $(seq 1 "$runs"); do
  dir=$(mktemp -d "$parent/fresh-XXXXXX")
  cache=$(mktemp -d)
  log="$dir.log"
  echo "== fresh run $i/$runs: $commit in $dir (caches in $cache, log $log)"
  git clone --quiet "$root" "$dir"
  git -C "$dir" checkout --quiet "$commit"
  if (
    cd "$dir"
    export XDG_CACHE_HOME="$cache" PIP_NO_CACHE_DIR=1 CI=true
    unset DESCEND_CACHE DESCEND_CACHE_DIR JAX_COMPILATION_CACHE_DIR
    make demo </dev/null && bash .ci/run </dev/null
  ) >"$log" 2>&1; then
    echo "   passed: $(grep -E '^[0-9]+ passed' "$log" | tail -n 1)"
    rm -rf "$dir" "$cache" "$log"
  else
    status=1
    echo "   FAILED; clone, caches and log kept. Last lines:"
    tail -n 20 "$log" | sed 's/^/   /'
  fi
done
exit "$status"
