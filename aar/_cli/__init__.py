"""One module per `aar` command group; see `aar/cli.py`."""
