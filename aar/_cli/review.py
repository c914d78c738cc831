"""`aar review ...`: list, show, approve, reject and verify what people must decide.

Thin: parse, call `aar.review`, render (`review_views`; a batch of decisions is recorded by
`review_batch`). Arguments are checked before anything is read; the findings memory (chromadb)
is opened only for a finding id or `list --findings`. Every command verifies the audit log
first: a log that fails verification is one error line (exit 1), and nothing is decided on top
of it.

`--json` output (stable; scripts and CI rely on it):
- `list --json`: `{"items": [ITEM, ...], "damaged": [{"path", "problem"}, ...]}`, ITEM =
  `{"kind": "proposal"|"finding", "id", "session_id", "round", "status":
  "pending"|"approved"|"rejected"|"expired"|"void"|"tampered", "sha256", "summary",
  "created_at", "expires_at" (null for findings), "decision": DECISION|null, "problem": why it
  is tampered or void, else null}`; `damaged` lists proposal files that cannot be read
  (skipped, so the rest still lists);
- `show ID --json`: `{"item": ITEM, "proposal": PROPOSAL|null, "finding": FINDING|null,
  "history": [{"seq", "outcome": "recorded"|"refused", "reason", "decision": DECISION,
  "prev_mac", "mac"}, ...]}`;
- `approve|reject ID --json`: DECISION = `{"item", "item_id", "session_id", "sha256",
  "decision": "approve"|"reject", "reviewer", "comment", "decided_at"}`; with several ids,
  `[DECISION, ...]` of those recorded (each refused one is a warning; exit 1);
- `verify --json`: `{"ok", "path", "records", "bad_line", "problem", "torn_tail"}` (exit 1
  when `ok` is false).
Times are ISO 8601 in UTC; new keys may be added, existing ones keep their meaning.

`approve` binds the hash the reviewer read: `--sha256 PREFIX` (12 or more hex digits of the
sha256 `show` prints) must match, checked under the audit lock with the append (exit 1 and
nothing recorded when it does not). Without it, a terminal shows the hash and asks; with no
terminal it is refused (exit 2). `reject` takes `--sha256` too but does not require it:
rejecting what you did not read can run nothing. A `tampered` proposal (its file is not what
its session logged) is refused by show, approve and reject (exit 1; the attempt is audited).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.text import Text

from aar._cli import review_batch as batch
from aar._cli import review_views as views
from aar._cli.output import warn
from aar.errors import UsageError

if TYPE_CHECKING:
    from aar.review import ItemStatus, ReviewItem, Verdict

review_app = typer.Typer(
    help="The review gate: decide proposals and findings; verify the audit log.",
    no_args_is_help=True,
)

IdArg = Annotated[str, typer.Argument(metavar="ID", help="A proposal (p-...) or finding id.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON (stable, documented).")]
RunsDirOpt = Annotated[
    Path | None,
    typer.Option("--runs-dir", help="The runs directory (default: the runs_dir setting)."),
]
CommentOpt = Annotated[str | None, typer.Option("--comment", "-m", help="Why.")]


def _item_status(value: str | None) -> ItemStatus | None:
    """`--status`, one of the statuses the gate gives an item."""
    from aar.review import ITEM_STATUSES

    if value is None:
        return None
    for known in ITEM_STATUSES:
        if value == known:
            return known
    raise UsageError(f"--status must be one of {', '.join(ITEM_STATUSES)}, got {value!r}")


def _runs_dir(option: Path | None) -> Path:
    from aar.config import get_settings
    from aar.review import check_runs_dir

    return check_runs_dir(option if option is not None else get_settings().runs_dir)


def _reviewer() -> str:
    from aar.config import get_settings

    return get_settings().review.reviewer


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def _console() -> Console:
    return views.console()


@review_app.command("list")
def list_items(
    session: Annotated[str | None, typer.Option("--session", help="Only this session.")] = None,
    status: Annotated[
        str | None,
        typer.Option("--status", help="pending|approved|rejected|expired|void|tampered."),
    ] = None,
    findings: Annotated[
        bool, typer.Option("--findings", help="Also list findings (opens the findings memory).")
    ] = False,
    team: Annotated[
        str | None, typer.Option("--team", help="Only this team's sessions (a team id).")
    ] = None,
    as_json: JsonOpt = False,
    runs_dir: RunsDirOpt = None,
) -> None:
    """Proposals (and findings) with their review status, oldest first."""
    from aar import review

    wanted = _item_status(status)
    runs = _runs_dir(runs_dir)
    store = review.open_findings_store() if findings else None
    damaged: list[tuple[Path, str]] = []
    from aar._cli.ids import resolve_filter

    session = resolve_filter(runs, session)  # a unique start of a session id is enough
    items = review.list_items(runs, session_id=session, status=wanted, store=store, damaged=damaged)
    if team is not None:
        from aar.team import open_team

        members = {r.session_id for r in open_team(runs, team).record.researchers}
        items = [item for item in items if item.session_id in members]
    for path, problem in damaged:
        warn(f"skipped {path.stem}: {problem}")
    for item in items:
        if item.status == "tampered":
            warn(f"{item.id} is tampered: {item.problem}; it cannot be decided or run")
    if as_json:
        damaged_json = [{"path": str(path), "problem": problem} for path, problem in damaged]
        _print_json(
            {"items": [item.model_dump(mode="json") for item in items], "damaged": damaged_json}
        )
    elif not items:
        _console().print("nothing to review" if status is None else f"no {status} items")
    else:
        _console().print(views.items_table(items))


@review_app.command("show")
def show(
    item_id: IdArg,
    code: Annotated[
        bool, typer.Option("--code", help="Also print the exact code (a pager on a terminal).")
    ] = False,
    as_json: JsonOpt = False,
    runs_dir: RunsDirOpt = None,
) -> None:
    """One item, what a reviewer judges first: for a proposal the parameters it changes against
    the experiment it follows, its rationale, estimates and the findings it rests on; sha256,
    expiry and decision history. --code prints the exact code too (the hash binds all of it)."""
    from aar import review

    review.item_kind(item_id)
    runs = _runs_dir(runs_dir)
    item, subject, history = review.show_item(runs, item_id)
    if as_json:
        data = subject.model_dump(mode="json")
        _print_json(
            {
                "item": item.model_dump(mode="json"),
                "proposal": data if item.kind == "proposal" else None,
                "finding": data if item.kind == "finding" else None,
                "history": [r.model_dump(mode="json") for r in history],
            }
        )
        return
    console = _console()
    paged = code and sys.stdout.isatty()
    with console.pager(styles=True) if paged else _nothing():
        console.print(views.details(item, subject))
        if isinstance(subject, review.Proposal):
            digest, diff = _digest(runs, subject)
            views.print_proposal(console, subject, digest, diff, code)
        console.print(views.history_table(history))
        _print_next(console, runs, item)


def _nothing() -> Any:
    from contextlib import nullcontext

    return nullcontext()


def _digest(runs: Path, p: Any) -> tuple[Any, tuple[int, int] | None]:
    """The proposal's digest and (+added, -removed) lines against the experiment it follows."""
    import difflib

    from aar.errors import AarError
    from aar.hashing import join_cells
    from aar.session import EventLog, proposal_digest

    try:
        state = EventLog(runs / p.session_id).state()
    except (AarError, OSError, ValueError):
        state = None
    exp = state.experiments.get(p.follows) if state is not None and p.follows else None
    digest = proposal_digest(state, p, exp.cells if exp is not None else None)
    if exp is None:
        return digest, None
    old, new = join_cells(exp.cells).split("\n"), p.code.split("\n")
    ops = difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes()
    added = sum(j2 - j1 for tag, _, _, j1, j2 in ops if tag != "equal")
    removed = sum(i2 - i1 for tag, i1, i2, _, _ in ops if tag != "equal")
    return digest, (added, removed)


def _print_next(console: Console, runs: Path, item: ReviewItem) -> None:
    if item.status == "pending":
        sha = item.sha256[:16]
        console.print(Text(f"approve exactly this: aar review approve {item.id} --sha256 {sha}"))
    else:
        console.print(Text("next: " + next_step(runs, item.session_id)))


def _decide(
    item_ids: list[str],
    verdict: Verdict,
    comment: str,
    sha256: list[str] | None,
    as_json: bool,
    runs_dir: Path | None,
) -> None:
    """Decide each id in turn, each its own audit record; every input is checked before the
    first decision, and one refusal does not stop the others (exit 1 when any was refused)."""
    from aar import review

    reviewer = _reviewer()
    hashes: list[str | None] = list(sha256) if sha256 else [None] * len(item_ids)
    if len(hashes) != len(item_ids):
        raise UsageError(
            f"{len(item_ids)} id(s) but {len(hashes)} --sha256: give one --sha256 per id, "
            "in the same order"
        )
    for item_id, sha in zip(item_ids, hashes, strict=True):
        review.check_decision_inputs(item_id, verdict, reviewer, comment, sha)
    if verdict == "approve" and sha256 is None and not _on_terminal():
        raise UsageError(
            f"approve needs --sha256 PREFIX (one per id), the sha256 `aar review show ID` "
            f"prints for {' '.join(item_ids)} (12 or more hex digits), so the approval binds "
            "what you read; there is no terminal to confirm on"
        )
    runs = _runs_dir(runs_dir)
    store = batch.store_for(item_ids)
    if verdict == "approve" and sha256 is None:
        hashes = list(batch.confirm_hashes(runs, item_ids, store))
    decided = batch.decide_each(runs, item_ids, hashes, verdict, reviewer, comment, store, as_json)
    if as_json:
        dumped = [d.model_dump(mode="json") for d in decided]
        _print_json(dumped if len(item_ids) > 1 else dumped[0])
    else:
        for session_id in dict.fromkeys(d.session_id for d in decided):
            _console().print(Text("next: " + next_step(runs, session_id)))
    if len(decided) < len(item_ids):
        raise typer.Exit(1)


def _on_terminal() -> bool:
    """Whether a person can answer a question (stdin and stderr are a terminal)."""
    return sys.stdin.isatty() and sys.stderr.isatty()


def next_step(runs: Path, session_id: str) -> str:
    """The command that moves `session_id` on (`aar.review.next_step`, with its team), as
    the terminal prints it: each command in backticks."""
    from aar import review

    return review.next_step(runs, session_id, team_of(runs, session_id)).plain()


def team_of(runs: Path, session_id: str) -> str | None:
    """The team whose `team.json` lists `session_id` as a researcher's session, if any (read
    as JSON: a team directory this version cannot read is no team of this session)."""
    base = Path(runs) / "teams"
    if not base.is_dir():
        return None
    for path in sorted(base.glob("*/team.json")):
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
            sessions = {r.get("session_id") for r in record.get("researchers", [])}
        except (OSError, ValueError, AttributeError, TypeError):
            continue
        if session_id in sessions:
            return path.parent.name
    return None


IdsArg = Annotated[
    list[str] | None,
    typer.Argument(metavar="ID...", help="Proposal (p-...) or finding ids; several at once."),
]
ShasOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--sha256",
        metavar="PREFIX",
        help="The sha256 `aar review show ID` printed (12+ hex digits); one per id, in order.",
    ),
]
SessionOpt = Annotated[
    str | None, typer.Option("--session", help="With --round: all its pending findings.")
]
RoundOpt = Annotated[
    int | None, typer.Option("--round", help="With --session: decide its round's findings.")
]


@review_app.command("approve")
def approve(
    item_ids: IdsArg = None,
    comment: CommentOpt = None,
    sha256: ShasOpt = None,
    session: SessionOpt = None,
    round: RoundOpt = None,
    as_json: JsonOpt = False,
    runs_dir: RunsDirOpt = None,
) -> None:
    """Approve proposals (their exact code, by hash) or findings; the first decision counts,
    and each is its own audit record. --sha256 names the hash you read (one per id); without
    it a terminal shows every hash and asks once. --session S --round N: that round's findings."""
    ids = batch.chosen_ids(item_ids, session, round, lambda: _runs_dir(runs_dir))
    _decide(ids, "approve", comment or "", sha256, as_json, runs_dir)


@review_app.command("reject")
def reject(
    item_ids: IdsArg = None,
    comment: CommentOpt = None,
    sha256: ShasOpt = None,
    session: SessionOpt = None,
    round: RoundOpt = None,
    as_json: JsonOpt = False,
    runs_dir: RunsDirOpt = None,
) -> None:
    """Reject proposals or findings, each its own audit record; -m says why (required).
    --sha256 is checked when given (not required: a rejection runs nothing)."""
    if comment is None or not comment.strip():
        raise UsageError("reject needs a comment saying why: -m 'why'")
    ids = batch.chosen_ids(item_ids, session, round, lambda: _runs_dir(runs_dir))
    _decide(ids, "reject", comment, sha256, as_json, runs_dir)


@review_app.command("token")
def token(
    name: Annotated[str, typer.Argument(metavar="NAME", help="The reviewer's name.")],
) -> None:
    """A new personal token for the web page (`aar serve`), shown once, and the settings line
    that lets it log in (only its sha256 is stored)."""
    from aar.web import new_token, token_hash

    if not name.strip() or len(name) > 200 or not name.isprintable() or name == "aar":
        raise UsageError(f"reviewer name {name!r} is not usable (1-200 printable, not aar)")
    secret = new_token()
    key = json.dumps(name, ensure_ascii=False)
    digest = token_hash(secret)
    out = _console()
    out.print(Text(f"token for {name} (shown only now; give it to {name}, keep it secret):"))
    out.print(Text(f"  {secret}"))
    out.print(Text("add to aar.toml (a new token for the same name replaces the old one):"))
    out.print(Text(f'  [review.reviewers]\n  {key} = "{digest}"'))
    out.print(Text(f"or set AAR_REVIEW__REVIEWERS='{json.dumps({name: digest})}'"))


@review_app.command("verify")
def verify(as_json: JsonOpt = False, runs_dir: RunsDirOpt = None) -> None:
    """Check the audit log's whole chain (exit 0) or name its first bad line (exit 1)."""
    from aar.review import AuditIntegrityError, AuditLog

    report = AuditLog(_runs_dir(runs_dir)).verify()
    if as_json:
        _print_json(report.model_dump(mode="json"))
    if not report.ok:
        raise AuditIntegrityError(report.message())
    if not as_json:
        _console().print(Text(report.message()))
