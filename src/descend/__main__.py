from .demo import run

raise SystemExit(run())
