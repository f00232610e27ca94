"""`python -m gapbench` runs the CLI."""

from gapbench.cli.main import main

main()
