"""`aar serve`: the reviewers' web page on 127.0.0.1 (or an explicit --host, with a warning).

Arguments are checked and the socket is bound before the server starts, so a bad host or a
busy port is one error line and a non-zero exit, with nothing written.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

LOOPBACK = "127.0.0.1"


def serve(
    host: Annotated[
        str, typer.Option(help="Address to bind; anything but loopback needs TLS in front.")
    ] = LOOPBACK,
    port: Annotated[
        int | None,
        typer.Option(min=0, max=65535, help="Port (default: serve.port; 0 picks a free one)."),
    ] = None,
    runs_dir: Annotated[
        Path | None,
        typer.Option("--runs-dir", help="The runs directory (default: the runs_dir setting)."),
    ] = None,
) -> None:
    """Serve the review web page: reports, proposals, the audit log, the findings memory."""
    from aar.config import get_settings
    from aar.review import check_runs_dir

    settings = get_settings()
    runs = check_runs_dir(runs_dir if runs_dir is not None else settings.runs_dir)
    from aar._cli.review import team_of
    from aar.net import is_loopback
    from aar.team import leaderboard
    from aar.web import WebConfig, bind
    from aar.web import serve as run_server

    sock = bind(host, settings.serve.port if port is None else port)
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    if not is_loopback(host):
        err.print(
            f"[yellow]warning:[/] serving on {host}, reachable from other machines: tokens and "
            "login cookies cross the network in clear text unless a TLS proxy is in front of it"
        )
    reviewers = settings.review.reviewers
    if not reviewers:
        err.print(
            "read-only: no reviewer is configured; add one with `aar review token NAME` and restart"
        )
    bound_host, bound_port = sock.getsockname()[:2]
    shown = f"[{bound_host}]" if ":" in bound_host else bound_host
    config = WebConfig(
        runs_dir=runs.resolve(),
        reviewers=dict(reviewers),
        login_seconds=settings.serve.login_hours * 3600,
        allowed_hosts=["127.0.0.1", "localhost", "::1", "[::1]"] if is_loopback(host) else None,
        leaderboard=leaderboard,
        team_of=team_of,
    )

    def ready() -> None:
        sys.stdout.write(f"serving {runs.resolve()} on http://{shown}:{bound_port}/\n")
        sys.stdout.flush()

    run_server(config, sock, ready)


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
