"""`aar review ...`: list, show, approve, reject and verify what people must decide.

Thin: parse, call `aar.review`, render. Arguments are checked before anything is read; the
findings memory (chromadb) is opened only for a finding id or `list --findings`. Every command
verifies the audit log first: a log that fails verification is one error line (exit 1), and
nothing is decided on top of it.

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
  "decision": "approve"|"reject", "reviewer", "comment", "decided_at"}`;
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

from aar._cli.output import warn
from aar.errors import UsageError
from aar.text import shown as _visible

if TYPE_CHECKING:
    from aar.review import AuditRecord, Decision, ItemStatus, ReviewItem, Verdict

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
ShaOpt = Annotated[
    str | None,
    typer.Option(
        "--sha256",
        metavar="PREFIX",
        help="The sha256 `aar review show ID` printed (at least its first 12 hex digits).",
    ),
]


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
    return Console(highlight=False, soft_wrap=True)


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
        _console().print(_items_table(items))


def _items_table(items: list[ReviewItem]) -> Any:
    """id and status never wrap (they are what a reviewer types and looks for)."""
    from rich.table import Table

    table = Table(title="review queue")
    table.add_column("id", no_wrap=True, min_width=max(len(i.id) for i in items))
    table.add_column("status", no_wrap=True)
    table.add_column("session · round", overflow="fold")
    table.add_column("expires", overflow="fold")
    table.add_column("summary", ratio=1, min_width=16)
    for item in items:
        expires = item.expires_at.strftime("%Y-%m-%d %H:%M") if item.expires_at else "-"
        kind = "" if item.kind == "proposal" else "finding: "
        table.add_row(
            item.id,
            _status_text(item),
            Text(f"{item.session_id} · {item.round}"),
            expires,
            Text(kind + _visible(item.summary)),
        )
    return table


def _status_text(item: ReviewItem) -> Text:
    styles = {"approved": "green", "rejected": "red", "pending": "yellow", "tampered": "bold red"}
    style = styles.get(item.status, "dim")
    who = f" ({item.decision.reviewer})" if item.decision else ""
    return Text(item.status + who, style=style)


@review_app.command("show")
def show(item_id: IdArg, as_json: JsonOpt = False, runs_dir: RunsDirOpt = None) -> None:
    """One item: rationale, exact code, sha256, estimates, expiry and its decision history."""
    from aar import review

    review.item_kind(item_id)
    item, subject, history = review.show_item(_runs_dir(runs_dir), item_id)
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
    console.print(_details(item, subject))
    if isinstance(subject, review.Proposal):
        console.print(Text("rationale", style="bold"))
        console.print(Text(_visible(subject.rationale)))
        console.print(
            Text(f"code ({len(subject.code)} characters, exactly as it will run)", "bold")
        )
        console.print(Text(_visible(subject.code)))
    console.print(_history_table(history))
    if item.status == "pending":
        console.print(
            Text(f"approve exactly this: aar review approve {item.id} --sha256 {item.sha256[:16]}")
        )


def _details(item: ReviewItem, subject: Any) -> Any:
    from rich.table import Table

    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    rows: list[tuple[str, str | Text]] = [
        ("id", f"{item.id} ({item.kind})"),
        ("session", f"{item.session_id} (round {item.round})"),
        ("status", _status_text(item)),
        ("sha256", item.sha256),
        ("created", item.created_at.isoformat(timespec="seconds")),
    ]
    if item.kind == "proposal":
        usd = "-" if subject.estimated_usd is None else f"{subject.estimated_usd:.2f}"
        rows += [
            ("follows", subject.follows or "-"),
            (
                "estimates",
                f"{subject.estimated_evaluations} evaluations, "
                f"{subject.estimated_tokens} tokens, USD {usd}",
            ),
            ("expires", subject.expires_at.isoformat(timespec="seconds")),
        ]
    else:
        rows += [("summary", subject.summary), ("verdict", subject.verdict)]
    for key, value in rows:
        grid.add_row(key, value if isinstance(value, Text) else Text(_visible(value)))
    return grid


def _history_table(history: list[AuditRecord]) -> Any:
    from rich.table import Table

    table = Table(title="decision history (audit log)")
    for name in ("record", "time", "decision", "reviewer", "outcome"):
        table.add_column(name, no_wrap=True)
    table.add_column("comment / reason", ratio=1)
    for r in history:
        d = r.decision
        note = " / ".join(x for x in (d.comment, r.reason) if x)
        table.add_row(
            str(r.seq),
            d.decided_at.isoformat(timespec="seconds"),
            d.decision,
            Text(d.reviewer),
            r.outcome,
            Text(_visible(note)),
        )
    if not history:
        table.add_row("-", "-", "-", "-", "-", "no decision yet")
    return table


def _decide(
    item_id: str,
    verdict: Verdict,
    comment: str,
    sha256: str | None,
    as_json: bool,
    runs_dir: Path | None,
) -> None:
    from aar import review

    reviewer = _reviewer()
    review.check_decision_inputs(item_id, verdict, reviewer, comment, sha256)
    if verdict == "approve" and sha256 is None and not _on_terminal():
        raise UsageError(
            f"approve needs --sha256 PREFIX, the sha256 `aar review show {item_id}` prints "
            "(12 or more hex digits), so the approval binds what you read; there is no "
            "terminal to confirm on"
        )
    runs = _runs_dir(runs_dir)
    if verdict == "approve" and sha256 is None:
        sha256 = _confirm_hash(runs, item_id)
    decision = review.decide(runs, item_id, verdict, reviewer, comment, expected_sha256=sha256)
    _report(decision, as_json)


def _on_terminal() -> bool:
    """Whether a person can answer a question (stdin and stderr are a terminal)."""
    return sys.stdin.isatty() and sys.stderr.isatty()


def _confirm_hash(runs: Path, item_id: str) -> str:
    """Show the item's hash and status, ask, and return the hash the reviewer agreed to."""
    from aar import review

    item, _, _ = review.show_item(runs, item_id)
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    err.print(Text(f"{item.kind} {item.id} ({item.status}): {_visible(item.summary)}"))
    err.print(Text(f"sha256 {item.sha256}"))
    if not typer.confirm(f"approve exactly this content (sha256 {item.sha256[:16]}…)?", err=True):
        err.print(Text("not approved: nothing was recorded"))
        raise typer.Exit(1)
    return item.sha256


def _report(decision: Decision, as_json: bool) -> None:
    if as_json:
        _print_json(decision.model_dump(mode="json"))
        return
    verb = "approved" if decision.decision == "approve" else "rejected"
    _console().print(
        Text(
            f"{verb} {decision.item} {decision.item_id} (sha256 {decision.sha256[:16]}…) "
            f"as {decision.reviewer}"
        )
    )


@review_app.command("approve")
def approve(
    item_id: IdArg,
    comment: CommentOpt = None,
    sha256: ShaOpt = None,
    as_json: JsonOpt = False,
    runs_dir: RunsDirOpt = None,
) -> None:
    """Approve a proposal (its exact code, by hash) or a finding; the first decision counts.
    --sha256 names the hash you read (`aar review show ID`); without it a terminal asks."""
    _decide(item_id, "approve", comment or "", sha256, as_json, runs_dir)


@review_app.command("reject")
def reject(
    item_id: IdArg,
    comment: CommentOpt = None,
    sha256: ShaOpt = None,
    as_json: JsonOpt = False,
    runs_dir: RunsDirOpt = None,
) -> None:
    """Reject a proposal or a finding; -m says why (required). --sha256 is checked when given
    (not required: a rejection runs nothing)."""
    if comment is None or not comment.strip():
        raise UsageError("reject needs a comment saying why: -m 'why'")
    _decide(item_id, "reject", comment, sha256, as_json, runs_dir)


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
