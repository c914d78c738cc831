"""`aar run`, `aar resume`, `aar replay`: launch a research session, continue one, check one.

Arguments are checked before anything heavy is imported (a bad task name answers at once);
the session then shows live progress and ends each round with a report awaiting review.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.text import Text

from aar._cli.drive import drive, report_done
from aar.errors import UsageError
from aar.text import shown

if TYPE_CHECKING:
    from aar.session import Session, SessionConfig

SEEDS_FROM = 42
ROUND_NEEDS = "Default: what the round needs"
BudgetUsd = Annotated[
    float | None,
    typer.Option(
        "--budget-usd",
        help="The most the round's model requests may cost, in USD; needs a price for the "
        "model (genai-prices, or agent.prices in aar.toml). Default: no USD limit.",
    ),
]
BudgetTokens = Annotated[
    int | None,
    typer.Option(
        "--budget-tokens",
        help="The most model tokens (input + output, every request) the round may use. "
        "Default: no token limit.",
    ),
]
BudgetEvals = Annotated[
    int | None,
    typer.Option(
        "--budget-evals",
        help="The most test submissions the scorer scores for the session (each answer is "
        f"feedback the researcher sees; holdout is never asked). {ROUND_NEEDS}.",
    ),
]
BudgetRequests = Annotated[
    int | None,
    typer.Option(
        "--budget-requests",
        help=f"The most model requests (researcher turns) in the round. {ROUND_NEEDS}.",
    ),
]
BudgetMinutes = Annotated[
    float | None,
    typer.Option(
        "--budget-minutes",
        help="The most wall-clock minutes a round may run, baselines included; the round "
        "then ends with a report of what it did. Default: no time limit.",
    ),
]


def run(
    goal: Annotated[str | None, typer.Option(help="What the research should find.")] = None,
    task: Annotated[
        list[str] | None, typer.Option("--task", "-t", help="Task (repeatable; default 2).")
    ] = None,
    direction: Annotated[
        list[str] | None, typer.Option("--direction", "-d", help="A research direction.")
    ] = None,
    model: Annotated[
        str,
        typer.Option(
            help="scripted (offline, no key) | openai:NAME (key: OPENAI_API_KEY) | "
            "anthropic:NAME (key: ANTHROPIC_API_KEY) | a local server: ollama:NAME "
            "(http://127.0.0.1:11434/v1), vllm:NAME (http://127.0.0.1:8000/v1), or "
            "openai:NAME --base-url URL. Keys come from the environment only."
        ),
    ] = "scripted",
    base_url: Annotated[
        str | None,
        typer.Option(
            "--base-url",
            help="An OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1 (no key needed).",
        ),
    ] = None,
    seeds: Annotated[int, typer.Option(help="Seeds per task (42 upwards).")] = 5,
    hypotheses: Annotated[int, typer.Option(help="Hypotheses per round.")] = 3,
    budget_usd: BudgetUsd = None,
    budget_tokens: BudgetTokens = None,
    budget_evals: BudgetEvals = None,
    budget_requests: BudgetRequests = None,
    budget_minutes: BudgetMinutes = None,
) -> None:
    """Launch a research session: one round ending in a report and proposals for review.

    Keys come from the environment: OPENAI_API_KEY (openai:), ANTHROPIC_API_KEY (anthropic:).

    A local server needs no key: --model ollama:NAME, vllm:NAME, or openai:NAME --base-url URL.
    """
    config = _config(
        goal,
        task,
        direction,
        model,
        base_url,
        seeds,
        hypotheses,
        budget_usd,
        budget_tokens,
        budget_evals,
        budget_requests,
        budget_minutes,
    )
    _check_model(config)
    from aar.config import get_settings
    from aar.files import check_dir_or_creatable

    runs_dir = get_settings().runs_dir
    check_dir_or_creatable(runs_dir, "runs directory")
    from aar.memory import check_store

    check_store(get_settings())  # the round stores its findings there: refuse a broken one now
    from aar.session import Session

    session = Session.create(runs_dir, config)
    drive(session)


def resume(
    session_id: Annotated[
        str, typer.Argument(help="The session to continue (an id or a unique start of one).")
    ],
) -> None:
    """Continue a killed session, or run the next round's approved follow-ups."""
    from aar.config import get_settings
    from aar.memory import check_store
    from aar.session import Session

    check_store(get_settings())  # the round stores its findings there: refuse a broken one now
    runs_dir = get_settings().runs_dir
    session = Session.open(runs_dir, _check_id(runs_dir, session_id))
    if _finish_torn_end(session):
        return
    drive(session)


def _finish_torn_end(session: Session) -> bool:
    """After a crash mid-write: note the torn last line, and finish a round whose end was
    logged but whose review state was not. Returns True when that finished the resume."""
    from aar.session import finish_logged_end

    try:
        note = session.mend_torn_log()
        if note:
            Console(stderr=True).print(f"note: {note}", highlight=False, markup=False)
        why = finish_logged_end(session)
    except BaseException:
        session.shutdown()
        raise
    if why is None:
        return False
    session.shutdown()
    report_done(session)
    return True


def replay(
    session_id: Annotated[
        str, typer.Argument(help="The session to check (an id or a unique start of one).")
    ],
    rescore: Annotated[bool, typer.Option(help="Score every saved prediction again.")] = True,
) -> None:
    """Rebuild every number of every report from the log; exit 1 on any mismatch."""
    from aar.config import get_settings
    from aar.session import replay_session

    runs_dir = get_settings().runs_dir
    root = runs_dir / _check_id(runs_dir, session_id)
    if not (root / "events.jsonl").is_file():
        raise UsageError(f"no session {session_id!r} under {root.parent}")
    result = replay_session(root, rescore=rescore)
    console = Console()
    console.print(
        f"{len(result.reports_checked)} report(s) rebuilt from the log; "
        f"{result.records_rescored} record(s) scored again "
        f"({result.records_not_on_disk} without predictions on disk)",
        highlight=False,
    )
    for line in result.mismatches:
        mismatch = Text.assemble(("MISMATCH", "bold red"), " ", shown(line, keep=""))
        Console(stderr=True).print(mismatch, highlight=False)
    if not result.ok:
        raise typer.Exit(1)
    for line in result.not_checked:
        console.print(f"not checked: {shown(line, keep='')}", highlight=False, markup=False)
    if result.not_checked:
        return
    if result.records_not_on_disk or (rescore and not result.records_rescored):
        console.print(
            f"every number that could be checked matches; {result.records_not_on_disk} "
            "record(s) could not be scored again (their predictions are not on disk)",
            highlight=False,
        )
        return
    console.print("[green]every number matches the evaluator's records[/]")


def _check_words(goal: str | None, directions: list[str]) -> None:
    """A blank --goal or --direction (e.g. an unset shell variable) is a mistake, not a choice.
    Checked here, not in `SessionConfig`, so sessions written before still read."""
    if goal is not None and not goal.strip():
        raise UsageError("--goal is blank")
    if len(directions) > 20:
        raise UsageError(f"at most 20 --direction options, got {len(directions)}")
    for n, direction in enumerate(directions, 1):
        if not direction.strip():
            raise UsageError(f"--direction {n} is blank")
        if len(direction) > 1000:
            raise UsageError(f"--direction {n} is longer than 1000 characters")


def _config(
    goal: str | None,
    tasks: list[str] | None,
    directions: list[str] | None,
    model: str,
    base_url: str | None,
    seeds: int,
    hypotheses: int,
    usd: float | None,
    tokens: int | None,
    evals: int | None,
    requests: int | None,
    minutes: float | None,
) -> SessionConfig:
    """The session's configuration, every argument checked (cheap checks only)."""
    from pydantic import ValidationError

    from aar.bench import check_task_names
    from aar.errors import validation_message
    from aar.session import Budgets, SessionConfig

    _check_numbers(seeds, hypotheses, (usd, minutes), (tokens, evals, requests))
    if tasks:
        if len(set(tasks)) != len(tasks):
            raise UsageError("a --task is given twice")
        check_task_names(tasks)
    _check_words(goal, directions or [])
    budgets = {
        "usd": usd,
        "tokens": tokens,
        "evals": evals,
        "requests": requests,
        "minutes": minutes,
    }
    fields = {
        "goal": goal,
        "tasks": tasks,
        "directions": directions,
        "model": model.strip(),
        "base_url": base_url,
        "hypotheses": hypotheses,
    }
    given = {k: v for k, v in fields.items() if v is not None}  # the others keep defaults
    try:
        config = SessionConfig.model_validate(
            given
            | {
                "seeds": list(range(SEEDS_FROM, SEEDS_FROM + seeds)),
                "budgets": Budgets.model_validate(
                    {k: v for k, v in budgets.items() if v is not None}
                ),
            }
        )
    except ValidationError as exc:
        raise UsageError(validation_message(exc)) from None
    return _sized(config, typed={k for k, v in budgets.items() if v is not None})


def _check_numbers(
    seeds: int,
    hypotheses: int,
    amounts: tuple[float | None, float | None],
    counts: tuple[int | None, int | None, int | None],
) -> None:
    """Each number in the words of its option (`SessionConfig` would name its own fields)."""
    for name, number in (("--seeds", seeds), ("--hypotheses", hypotheses)):
        if not 1 <= number <= 20:
            raise UsageError(f"{name} must be between 1 and 20, got {number}")
    for name, value in zip(("--budget-usd", "--budget-minutes"), amounts, strict=True):
        if value is not None and not (math.isfinite(value) and value > 0):
            raise UsageError(f"{name} must be a positive number, got {value}")
    names = ("--budget-tokens", "--budget-evals", "--budget-requests")
    for name, count in zip(names, counts, strict=True):
        if count is not None and count < 0:
            raise UsageError(f"{name} must be 0 or more, got {count}")


def _sized(config: SessionConfig, typed: set[str]) -> SessionConfig:
    """The round's evaluation and request budgets: typed on the command line (respected, even
    when smaller than the round needs), else from aar.toml `[session]` (must cover the round),
    else sized to the round (see `aar.session.plan_round`)."""
    from aar.config import get_settings
    from aar.session import SIZED_BUDGETS, BudgetTooSmallError, check_configured, sized_budget

    configured = get_settings().session
    chosen: dict[str, int] = {}
    for name in SIZED_BUDGETS:
        if name in typed:
            continue
        value = getattr(configured, name)
        if value is None:
            chosen[name] = sized_budget(name, config)
            continue
        try:
            check_configured(name, value, config)
        except BudgetTooSmallError as exc:
            raise UsageError(str(exc)) from None
        chosen[name] = value
    budgets = config.budgets.model_copy(update=chosen)
    return config.model_copy(update={"budgets": budgets})


def _check_model(config: SessionConfig) -> None:
    """A real provider needs its key (and a price when a USD budget is set) before we start;
    the scripted researcher reads only the directions it has words for."""
    from aar.session import SCRIPTED

    if config.model == SCRIPTED:
        if config.base_url:
            raise UsageError("--base-url needs a provider model (e.g. --model openai:NAME)")
        from aar.agent import direction_families

        direction_families(config.directions)
        return
    _check_usd_price(config)
    from aar.agent import ModelSpec, build_model, check_endpoint, model_price, price_table

    ModelSpec.parse(config.model)
    build_model(config.model, base_url=config.base_url)
    price = model_price(config.model, price_table(), base_url=config.base_url)
    if config.budgets.usd is not None and price is None:
        raise UsageError(
            f"--budget-usd needs a price for {config.model}, and it has none: add it to the "
            "price table in aar.toml ([agent.prices]) or drop the USD budget"
        )
    check_endpoint(config.model, base_url=config.base_url)


def _check_usd_price(config: SessionConfig) -> None:
    """A USD budget for a model no price table knows is refused before the agent package
    (pydantic-ai and the provider SDKs, ~1.8 s) is imported. Only a sure "unpriced" refuses
    here; the full check after it decides everything else."""
    from aar.config import get_settings

    if config.budgets.usd is None or config.model in get_settings().agent.prices:
        return
    from genai_prices import Usage, calc_price

    provider, _, name = config.model.partition(":")
    try:
        calc_price(Usage(input_tokens=1000, output_tokens=1000), name, provider_id=provider)
    except LookupError:
        raise UsageError(
            f"--budget-usd needs a price for {config.model}, and it has none: add it to the "
            "price table in aar.toml ([agent.prices]) or drop the USD budget"
        ) from None
    except Exception:  # a spec genai-prices cannot read: the full check below decides
        return


def _check_id(runs_dir: Path, session_id: str) -> str:
    """The whole id of the session typed (a unique prefix is enough: `aar._cli.ids`)."""
    from aar._cli.ids import resolve_session_id

    return resolve_session_id(runs_dir, session_id)


def register(app: typer.Typer) -> None:
    app.command("run")(run)
    app.command("resume")(resume)
    app.command("replay")(replay)


__all__ = ["Path", "register"]
