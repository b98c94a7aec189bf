"""`python -m app.simulator`: the simulator without the Lookout CLI (needs a running broker)."""

from app.simulator.cli import main

raise SystemExit(main())
