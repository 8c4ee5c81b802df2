"""``python -m flowvault``: the command line."""

from flowvault.cli import main

main()
