"""Run the command line as ``python -m helpline``."""

from helpline.cli import main

raise SystemExit(main())
