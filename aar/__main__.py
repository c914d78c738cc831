"""`python -m aar` runs the CLI."""

from aar.cli import main

main()
