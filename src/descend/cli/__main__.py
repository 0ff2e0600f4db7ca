"""``python -m descend.cli``: the same as the ``descend`` command."""

from . import main

raise SystemExit(main())
