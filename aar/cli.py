"""The `aar` command line: thin typer apps that parse, call a package, and render with rich.

Each command group lives in `aar/_cli/<group>.py` and imports its heavy dependencies
(torch, chromadb, jupyter-client) inside the command, so `aar --help` starts fast.
"""

from __future__ import annotations

import errno
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.text import Text
from typer.core import TyperGroup

from aar import __version__
from aar._cli.bench import bench_app
from aar._cli.leaderboard import register as register_leaderboard
from aar._cli.memory import memory_app
from aar._cli.review import review_app
from aar._cli.run import register as register_run
from aar._cli.sandbox import sandbox_app
from aar._cli.scorer import scorer_app
from aar._cli.serve import register as register_serve
from aar._cli.sessions import sessions_app
from aar._cli.team import team_app
from aar.errors import AarError
from aar.text import one_line

_PATH_ERRNOS = {
    errno.ENAMETOOLONG: 2,
    errno.ELOOP: 2,
    errno.ENOSPC: 1,
    errno.EDQUOT: 1,
    errno.EROFS: 1,
    errno.EACCES: 1,
    errno.EPERM: 1,
}
"""Errors of the user's paths or disk that no check can rule out in advance (a disk filling up
during a run): one line, 2 for a path that can never work, 1 for "ran but failed"."""


def _fail(message: str, exit_code: int) -> NoReturn:
    """One red line on stderr (never wrapped, user text never read as markup, each line break a
    space and every other hidden character a visible mark: `aar.text.one_line`), then exit."""
    line = Text("error: ", style="bold red").append(one_line(message))
    Console(stderr=True, soft_wrap=True).print(line, highlight=False)
    raise typer.Exit(exit_code)


_SHOWS_HELP = "NoArgsIsHelpError"
"""The usage error click raises for a group called without arguments, its help page already
written: it goes on to click, which exits 2. Typer (0.26+) vendors click privately and exports
no name for it, so it is known by its class name rather than imported from `typer._click`."""


def _usage_message(exc: typer.TyperException) -> str | None:
    """The one line of one of typer's own errors (a bad option value, a missing argument;
    `TyperException` is the public base of the vendored click's errors), or None for the help
    page of a group called without arguments."""
    if type(exc).__name__ == _SHOWS_HELP:
        return None
    ctx = getattr(exc, "ctx", None)  # the command a usage error is about
    where = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
    return exc.format_message() + where


class _AarGroup(TyperGroup):
    """The root command group: user mistakes become one red line and an exit code.

    `AarError`s exit with their `exit_code` (2 usage, 1 ran but failed); click's own usage
    errors (a bad option value, a missing argument) exit 2 with one line too, instead of a
    multi-line panel. Handled around parsing and invocation, so the console script,
    `app([...])` and `typer.testing.CliRunner` all behave alike.
    """

    # `Any`: typer exposes no public name for its vendored click `Context` (`typer.Context` is a
    # subclass, too narrow for an override).
    def make_context(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().make_context(*args, **kwargs)
        except typer.TyperException as exc:
            line = _usage_message(exc)
            if line is None:
                raise
            _fail(line, exc.exit_code)

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except AarError as exc:
            _fail(str(exc), exc.exit_code)
        except typer.TyperException as exc:
            line = _usage_message(exc)
            if line is None:
                raise
            _fail(line, exc.exit_code)
        except OSError as exc:
            code = _PATH_ERRNOS.get(exc.errno or 0)
            if code is None:
                raise  # anything else is a bug and keeps its traceback
            where = f": {exc.filename}" if exc.filename else ""
            _fail(f"{exc.strerror}{where}", code)


app = typer.Typer(
    name="aar",
    cls=_AarGroup,
    help="aar — an automated alignment researcher for weak-to-strong generalization.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},  # every subcommand inherits it
)
app.add_typer(bench_app, name="bench")
app.add_typer(sandbox_app, name="sandbox")
app.add_typer(memory_app, name="memory")
app.add_typer(review_app, name="review")
app.add_typer(sessions_app, name="sessions")
app.add_typer(team_app, name="team")
app.add_typer(scorer_app, name="scorer")
register_run(app)
register_serve(app)
register_leaderboard(app)


@app.command()
def version() -> None:
    """Print aar's version."""
    print(__version__)


def _print_version(value: bool) -> None:
    """`aar --version`: what `aar version` prints, as most tools answer it."""
    if value:
        print(__version__)
        raise typer.Exit()


@app.callback()
def _root(
    show_version: Annotated[
        bool,
        typer.Option(
            "--version", "-V", is_eager=True, callback=_print_version, help="Print the version."
        ),
    ] = False,
) -> None:
    """aar — an automated alignment researcher for weak-to-strong generalization."""


def main() -> None:
    """Console-script entry point."""
    app()
