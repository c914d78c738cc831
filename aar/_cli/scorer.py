"""`aar scorer serve`: the installation's scorer as an authenticated HTTP service.

Loopback by default; another host (cluster mode, the workers on other machines) needs
--allow-remote as well. The socket is bound and the token file made before serving, so a
bad host or a busy port is one error line and a non-zero exit.
"""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path
from typing import Annotated, Any

import typer

LOOPBACK = "127.0.0.1"
scorer_app = typer.Typer(
    help="The scorer service: the one process of a team that holds the labels.",
    no_args_is_help=True,
)


@scorer_app.command("serve")
def serve(
    host: Annotated[str, typer.Option(help="Address to bind (loopback unless --allow-remote).")] = (
        LOOPBACK
    ),
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port (0 picks a free one).")] = 0,
    allow_remote: Annotated[
        bool, typer.Option("--allow-remote", help="Allow a --host other machines can reach.")
    ] = False,
    token_file: Annotated[
        Path | None,
        typer.Option("--token-file", help="The token (default: service.token in the ledger)."),
    ] = None,
    budget_evals: Annotated[
        int | None, typer.Option("--budget-evals", min=0, help="The team's scored test evals.")
    ] = None,
    per_researcher_evals: Annotated[
        int | None,
        typer.Option("--per-researcher-evals", min=0, help="Scored test evals per account."),
    ] = None,
    team: Annotated[str, typer.Option(help="The team's name in the ledger.")] = "team",
    device: Annotated[str, typer.Option(help="Where ceilings train: 'cpu', 'cuda'.")] = "cpu",
) -> None:
    """Serve the scorer until Ctrl-C: POST /score, GET /public/TASK/SEED, /pools, /health."""
    from aar.scorer import Scorer, ScorerService, TeamBudget, read_token, token_path

    budgets = None
    if budget_evals is not None or per_researcher_evals is not None:
        budgets = TeamBudget(
            total_evals=budget_evals, per_account_evals=per_researcher_evals, team=team
        )
    token = read_token(token_file, create=True)
    scorer = Scorer(device=device)
    service = ScorerService(scorer, token, budgets, host=host, port=port, allow_remote=allow_remote)
    stop = threading.Event()
    previous = {s: signal.signal(s, _setter(stop)) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        service.start()
        sys.stdout.write(
            f"scorer serving ledger {scorer.store.dir} on {service.url}\n"
            f"token file: {token_path(token_file)}\n"
        )
        sys.stdout.flush()
        while not stop.wait(0.5):
            pass
    finally:
        service.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    sys.stdout.write("scorer stopped\n")


def _setter(event: threading.Event) -> Any:
    def handler(signum: int, frame: object) -> None:
        event.set()

    return handler
