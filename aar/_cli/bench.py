"""`aar bench ...` commands."""

from __future__ import annotations

import typer

bench_app = typer.Typer(help="TODO", no_args_is_help=True)
