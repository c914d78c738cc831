"""How `aar review` shows the gate: the queue (list), one item with its proposal and decision
history (show), and the line each recorded decision prints (approve, reject).

Rendering only: `review.py` reads the runs directory and the audit log and passes what it read.
A proposal's and a finding's words are a model's or a person's: they are shown as text, never
read as rich markup, and each hidden character is a visible mark (`aar.text.shown`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.text import Text

from aar.text import shown as _visible

if TYPE_CHECKING:
    from aar.review import AuditRecord, Decision, ReviewItem


def console() -> Console:
    """Standard output, no guessed highlighting, long lines left whole."""
    return Console(highlight=False, soft_wrap=True)


def items_table(items: list[ReviewItem]) -> Any:
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
            (item.id, "bold"), "  ", status_text(item), f"  {item.session_id} · round {item.round}"
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


def status_text(item: ReviewItem) -> Text:
    """The item's status (and who decided it), coloured so pending and tampered stand out."""
    styles = {"approved": "green", "rejected": "red", "pending": "yellow", "tampered": "bold red"}
    style = styles.get(item.status, "dim")
    who = f" ({item.decision.reviewer})" if item.decision else ""
    return Text(item.status + who, style=style)


def print_proposal(
    out: Console, p: Any, digest: Any, diff: tuple[int, int] | None, code: bool
) -> None:
    """Parameter changes (or the size of the code diff), rationale, findings; code on request."""
    out.print(Text("what it changes", style="bold"))
    for line in change_lines(digest, diff, p):
        out.print(Text("  " + _visible(line)))
    out.print(Text("rationale", style="bold"))
    out.print(Text(_visible(p.rationale)))
    if digest.findings:
        out.print(Text("rests on", style="bold"))
        for f in digest.findings:
            out.print(Text(f"  {f.id} ({f.verdict}): {_visible(f.summary)}"))
    if code:
        out.print(Text(f"code ({len(p.code)} characters, exactly as it will run)", "bold"))
        out.print(Text(_visible(p.code)))
    else:
        from aar.text import hidden_count

        hidden = hidden_count(p.code)
        if hidden:
            out.print(
                Text(
                    f"the code holds {hidden} invisible character(s): read it with --code",
                    "bold red",
                )
            )
        lines = p.code.count("\n") + 1
        out.print(
            Text(f"code: {lines} lines, not shown: aar review show {p.id} --code", style="dim")
        )


def change_lines(digest: Any, diff: tuple[int, int] | None, p: Any) -> list[str]:
    """What the proposal changes, per method, against the experiment it follows (or why that
    cannot be said without reading the code), then the size of the code diff."""
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


def details(item: ReviewItem, subject: Any) -> Any:
    """The item's facts as a two-column grid: ids, status, sha256, times, and for a proposal
    its estimates and expiry, for a finding its summary and verdict."""
    from rich.table import Table

    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    rows: list[tuple[str, str | Text]] = [
        ("id", f"{item.id} ({item.kind})"),
        ("session", f"{item.session_id} (round {item.round})"),
        ("status", status_text(item)),
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


def history_table(history: list[AuditRecord]) -> Any:
    """The item's audit records, refused attempts included, oldest first."""
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


def report(decision: Decision) -> None:
    """One line a recorded decision: what, by whom, and the hash it binds."""
    verb = "approved" if decision.decision == "approve" else "rejected"
    console().print(
        Text(
            f"{verb} {decision.item} {decision.item_id} (sha256 {decision.sha256[:16]}…) "
            f"as {decision.reviewer}"
        )
    )
