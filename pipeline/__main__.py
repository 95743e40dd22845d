"""``python -m pipeline`` is the ``readiness`` command."""

from pipeline._cli import main

raise SystemExit(main())
