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
        _console().print(_items_table(items))


def _items_table(items: list[ReviewItem]) -> Any:
    """Two lines an item, at any width (a boxed table took 17 lines a proposal at 80
    columns): what a reviewer types and looks for first (id, status, session · round, expiry;
    never wrapped or cut), then the summary on one line, cut at a word to the terminal's
    width. The whole summary is one `aar review show ID` away."""
    from rich.console import Group

    from aar._cli.output import clip

    width = max(Console().width, 40)
    lines: list[Text] = [Text(f"review queue: {len(items)} item(s)", style="bold")]
    for item in items:
        head = Text.assemble(
            (item.id, "bold"), "  ", _status_text(item), f"  {item.session_id} · round {item.round}"
        )
        if item.expires_at:  # the time of day gives way first, then the date
            shapes = (
                f"  expires {item.expires_at:%Y-%m-%d %H:%M}",
                f"  expires {item.expires_at:%m-%d}",
            )
            fits = [x for x in shapes if len(head) + len(x) <= width]
            head.append(fits[0] if fits else "", style="dim")
        kind = "" if item.kind == "proposal" else "finding: "
        summary = " ".join(_visible(item.summary, keep="").split())
        lines += [head, Text("  " + clip(kind + summary, width - 2))]
    return Group(*lines)


def _status_text(item: ReviewItem) -> Text:
    styles = {"approved": "green", "rejected": "red", "pending": "yellow", "tampered": "bold red"}
    style = styles.get(item.status, "dim")
    who = f" ({item.decision.reviewer})" if item.decision else ""
    return Text(item.status + who, style=style)


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
        console.print(_details(item, subject))
        if isinstance(subject, review.Proposal):
            _print_proposal(console, runs, subject, code)
        console.print(_history_table(history))
        _print_next(console, runs, item)


def _nothing() -> Any:
    from contextlib import nullcontext

    return nullcontext()


def _print_proposal(console: Console, runs: Path, p: Any, code: bool) -> None:
    """Parameter changes (or the size of the code diff), rationale, findings; code on request."""
    digest, diff = _digest(runs, p)
    console.print(Text("what it changes", style="bold"))
    for line in _change_lines(digest, diff, p):
        console.print(Text("  " + _visible(line)))
    console.print(Text("rationale", style="bold"))
    console.print(Text(_visible(p.rationale)))
    if digest.findings:
        console.print(Text("rests on", style="bold"))
        for f in digest.findings:
            console.print(Text(f"  {f.id} ({f.verdict}): {_visible(f.summary)}"))
    if code:
        console.print(Text(f"code ({len(p.code)} characters, exactly as it will run)", "bold"))
        console.print(Text(_visible(p.code)))
    else:
        from aar.text import hidden_count

        hidden = hidden_count(p.code)
        if hidden:
            console.print(
                Text(
                    f"the code holds {hidden} invisible character(s): read it with --code",
                    "bold red",
                )
            )
        lines = p.code.count("\n") + 1
        console.print(
            Text(f"code: {lines} lines, not shown: aar review show {p.id} --code", style="dim")
        )


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


def _change_lines(digest: Any, diff: tuple[int, int] | None, p: Any) -> list[str]:
    lines = []
    if digest.known:
        lines.append(f"methods {', '.join(digest.methods)} against {digest.base} of {p.follows}:")
        by_method: dict[str, list[str]] = {}
        for c in digest.changes:
            by_method.setdefault(c.method, []).append(f"{c.field} {c.before} -> {c.after}")
        for method in digest.methods:
            lines.append(f"{method}: " + (", ".join(by_method.get(method, [])) or "no field"))
    else:
        lines.append("no literal configuration to compare: read the code (--code)")
    if diff is not None:
        lines.append(f"code against {p.follows}: +{diff[0]} -{diff[1]} lines")
    return lines


def _print_next(console: Console, runs: Path, item: ReviewItem) -> None:
    if item.status == "pending":
        sha = item.sha256[:16]
        console.print(Text(f"approve exactly this: aar review approve {item.id} --sha256 {sha}"))
    else:
        console.print(Text("next: " + next_step(runs, item.session_id)))


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
    store = _store_for(item_ids)
    if verdict == "approve" and sha256 is None:
        hashes = list(_confirm_hashes(runs, item_ids, store))
    decided = _decide_each(runs, item_ids, hashes, verdict, reviewer, comment, store, as_json)
    if as_json:
        dumped = [d.model_dump(mode="json") for d in decided]
        _print_json(dumped if len(item_ids) > 1 else dumped[0])
    else:
        for session_id in dict.fromkeys(d.session_id for d in decided):
            _console().print(Text("next: " + next_step(runs, session_id)))
    if len(decided) < len(item_ids):
        raise typer.Exit(1)


def _decide_each(
    runs: Path,
    item_ids: list[str],
    hashes: list[str | None],
    verdict: Verdict,
    reviewer: str,
    comment: str,
    store: Any,
    as_json: bool,
) -> list[Decision]:
    """The decisions recorded; a refused item is a warning (one id alone: its error)."""
    from aar import review

    refusals = _item_refusals()
    decided = []
    for item_id, sha in zip(item_ids, hashes, strict=True):
        try:
            decision = review.decide(
                runs, item_id, verdict, reviewer, comment, expected_sha256=sha, store=store
            )
        except refusals as exc:
            if len(item_ids) == 1:
                raise
            warn(f"{item_id}: {exc}")
            continue
        decided.append(decision)
        if not as_json:
            _report(decision)
    return decided


def _item_refusals() -> tuple[type[Exception], ...]:
    """Refusals of one item that leave the others of a batch decidable (a broken audit log,
    key or lock stops the batch)."""
    from aar import review

    return (
        review.AlreadyDecidedError,
        review.ProposalExpiredError,
        review.HashMismatchError,
        review.ItemNotFoundError,
        review.ProposalFileError,
        review.MemorySyncError,
    )


def _store_for(item_ids: list[str]) -> Any:
    """The findings memory, opened once, when any id is a finding's."""
    from aar import review

    if all(review.item_kind(i) == "proposal" for i in item_ids):
        return None
    return review.open_findings_store()


def _on_terminal() -> bool:
    """Whether a person can answer a question (stdin and stderr are a terminal)."""
    return sys.stdin.isatty() and sys.stderr.isatty()


def _confirm_hashes(runs: Path, item_ids: list[str], store: Any) -> list[str]:
    """Show each item's hash and status, ask once, and return the hashes agreed to."""
    from aar import review

    err = Console(stderr=True, highlight=False, soft_wrap=True)
    hashes = []
    for item_id in item_ids:
        item, _, _ = review.show_item(runs, item_id, store=store)
        err.print(Text(f"{item.kind} {item.id} ({item.status}): {_visible(item.summary)}"))
        err.print(Text(f"sha256 {item.sha256}"))
        hashes.append(item.sha256)
    what = "this content" if len(hashes) == 1 else f"the content of these {len(hashes)} items"
    first = f" (sha256 {hashes[0][:16]}…)" if len(hashes) == 1 else ""
    if not typer.confirm(f"approve exactly {what}{first}?", err=True):
        err.print(Text("not approved: nothing was recorded"))
        raise typer.Exit(1)
    return hashes


def _report(decision: Decision) -> None:
    verb = "approved" if decision.decision == "approve" else "rejected"
    _console().print(
        Text(
            f"{verb} {decision.item} {decision.item_id} (sha256 {decision.sha256[:16]}…) "
            f"as {decision.reviewer}"
        )
    )


def next_step(runs: Path, session_id: str) -> str:
    """The command that moves `session_id` on (`aar.review.next_step`, with its team)."""
    from aar import review

    return review.next_step(runs, session_id, team_of(runs, session_id))


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


def _ids(
    item_ids: list[str] | None, session: str | None, round: int | None, runs_dir: Path | None
) -> list[str]:
    """The ids given, or every pending finding of `--session`'s round `--round`."""
    from aar import review

    if item_ids and (session or round is not None):
        raise UsageError("give ids, or --session with --round, not both")
    if item_ids:
        return list(dict.fromkeys(item_ids))
    if session is None or round is None:
        raise UsageError("name what to decide: ID ..., or --session S --round N (its findings)")
    runs = _runs_dir(runs_dir)
    items = review.list_items(
        runs, session_id=session, status="pending", store=review.open_findings_store()
    )
    found = [i.id for i in items if i.kind == "finding" and i.round == round]
    if not found:
        raise UsageError(f"no pending finding in round {round} of {session}")
    return found


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
    ids = _ids(item_ids, session, round, runs_dir)
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
    ids = _ids(item_ids, session, round, runs_dir)
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
