"""The `aar` command line: thin typer apps that parse, call a package, and render with rich.

Each command group lives in `aar/_cli/<group>.py` and imports its heavy dependencies
(torch, chromadb, jupyter-client) inside the command, so `aar --help` starts fast.
"""

from __future__ import annotations

import sys

import typer
from rich.console import Console

from aar import __version__
from aar._cli.bench import bench_app
from aar._cli.memory import memory_app
from aar._cli.sandbox import sandbox_app
from aar.errors import AarError

app = typer.Typer(
    name="aar",
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
    """Entry point: user mistakes (`AarError`) become one red line and exit code 2."""
    try:
        app(standalone_mode=False)
    except AarError as exc:
        Console(stderr=True).print(f"[bold red]error:[/] {exc}", highlight=False)
        sys.exit(exc.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        Console(stderr=True).print("aborted", style="red")
        sys.exit(130)
    except Exception as exc:  # click usage errors carry their own exit code and message
        from click.exceptions import ClickException

        if isinstance(exc, ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise
