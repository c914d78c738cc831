"""`aar sandbox ...` commands."""

from __future__ import annotations

import typer

sandbox_app = typer.Typer(help="TODO", no_args_is_help=True)
