"""Command line of the course kit: ``python -m assignment COMMAND``."""

from assignment.instructor.cli import main

raise SystemExit(main())
