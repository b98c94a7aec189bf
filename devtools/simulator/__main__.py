"""`python -m devtools.simulator`: the simulator without the Lookout CLI (needs a broker)."""

from devtools.simulator.cli import main

raise SystemExit(main())
