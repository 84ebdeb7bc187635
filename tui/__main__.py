"""`python -m tui` runs the same entry point as the `liu` script."""

from tui.cli import main

raise SystemExit(main())
