"""The `aar` command line: thin typer apps that parse, call a package, and render with rich.

Each command group lives in `aar/_cli/<group>.py` and imports its heavy dependencies
(torch, chromadb, jupyter-client) inside the command, so `aar --help` starts fast.
"""

from __future__ import annotations

from typing import Any

import typer
from rich.console import Console
from typer.core import TyperGroup

from aar import __version__
from aar._cli.bench import bench_app
from aar._cli.memory import memory_app
from aar._cli.sandbox import sandbox_app
from aar.errors import AarError


class _AarGroup(TyperGroup):
    """The root command group: user mistakes (`AarError`) become one red line and exit code 2.

    Handled around the sub-command's invocation, so the console script, `app([...])` and
    `typer.testing.CliRunner` all behave alike.
    """

    def invoke(self, ctx: typer.Context) -> Any:
        try:
            return super().invoke(ctx)
        except AarError as exc:
            console = Console(stderr=True, soft_wrap=True)
            console.print(f"[bold red]error:[/] {exc}", highlight=False)
            raise typer.Exit(exc.exit_code) from None


app = typer.Typer(
    name="aar",
    cls=_AarGroup,
    help="aar — an automated alignment researcher for weak-to-strong generalization.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(bench_app, name="bench")
app.add_typer(sandbox_app, name="sandbox")
app.add_typer(memory_app, name="memory")


@app.command()
def version() -> None:
    """Print aar's version."""
    print(__version__)


def main() -> None:
    """Console-script entry point."""
    app()
