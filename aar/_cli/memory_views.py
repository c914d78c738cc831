"""How `aar memory` shows findings: a table (query, list) and one finding's every field (show).

A finding's words are a model's or a person's: they are shown as text, never read as rich
markup, and each hidden character is a visible mark (`aar.text.shown`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aar.memory import Finding, Metrics, VerdictBasis

WITHHELD = "withheld"
"""What a finding's feedback shows when the scorer withheld every cited test score."""


def _pgr(finding: Finding) -> str:
    m = finding.metrics
    return WITHHELD if m is None else _mean_se(m, short=True)


def _mean_se(m: Metrics, short: bool = False) -> str:
    """PGR accuracy as mean ± SE; a mean over one seed has no SE (the stored 0 is a
    placeholder, and "± 0.000" would read as an exact number), so it says so instead. A
    hand-written finding may name no seeds: its SE is shown as written."""
    if len(m.seeds) == 1:
        return f"{m.pgr_acc_mean:+.3f} (1 seed{'' if short else ', no SE'})"
    return f"{m.pgr_acc_mean:+.3f} ± {m.pgr_acc_se:.3f}"


def findings_table(
    findings: list[Finding], scores: list[float] | None, title: str, width: int
) -> Any:
    """One row per finding; under 120 columns task and method move into the summary cell."""
    from rich.text import Text

    from aar._cli.output import clip
    from aar.text import shown

    wide = width >= 120
    table = _findings_frame(title, wide)
    table.add_column("id", no_wrap=True, min_width=max((len(f.id) for f in findings), default=2))
    if scores is not None:
        table.add_column("score", justify="right", no_wrap=True, min_width=5)
    if wide:
        for name in ("task", "method"):
            table.add_column(name, max_width=18, no_wrap=True, overflow="ellipsis")
    table.add_column("verdict / review" if wide else "verdict\nreview", no_wrap=True)
    table.add_column("PGR acc (mean ± SE)" if wide else "PGR acc\nmean ± SE", justify="right")
    summary_min = 24 if wide else 20
    table.add_column(
        "summary" if wide else "task · method · summary", ratio=1, min_width=summary_min
    )
    for n, f in enumerate(findings):
        text = shown(f.summary, keep="")  # text, never markup; hidden characters marked
        summary = Text(clip(text, 200))  # cut at a word
        cells: list[str | Text] = [f.id]
        if scores is not None:
            cells.append(f"{scores[n]:.3f}")
        if wide:
            cells += [", ".join(f.tasks), f.method]
        else:
            summary = Text.assemble((f"{', '.join(f.tasks)} · {f.method}", "bold"), "  ", summary)
        cells += [f"{f.verdict}\n{f.review.status}", _pgr(f), summary]
        table.add_row(*cells)
    return table


def _findings_frame(title: str, wide: bool) -> Any:
    """The table's frame: boxed on a wide terminal; under 120 columns no outer border and one
    space between columns, so every line fits the terminal (80 columns held 91)."""
    from rich import box
    from rich.table import Table

    if wide:
        return Table(title=title)
    return Table(
        title=title,
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        padding=(0, 1, 0, 0),
    )


def _metric_rows(prefix: str, m: Metrics) -> list[tuple[str, str]]:
    def ci(bounds: tuple[float, float] | None) -> str:
        return f" [95% CI {bounds[0]:+.3f}, {bounds[1]:+.3f}]" if bounds else ""

    rows = [(f"{prefix}PGR accuracy", f"{_mean_se(m)}{ci(m.pgr_acc_ci)}")]
    if m.pgr_auroc_mean is not None:
        se = f" ± {m.pgr_auroc_se:.3f}" if m.pgr_auroc_se is not None else ""
        rows.append((f"{prefix}PGR AUROC", f"{m.pgr_auroc_mean:+.3f}{se}{ci(m.pgr_auroc_ci)}"))
    if m.accuracy_mean is not None:
        se = f" ± {m.accuracy_se:.3f}" if m.accuracy_se is not None else ""
        rows.append((f"{prefix}accuracy", f"{m.accuracy_mean:.3f}{se}"))
    return rows


def _basis(basis: VerdictBasis | None) -> str:
    """What decided the verdict, in one paragraph: the data (fresh seeds or the round's own),
    the difference from the baseline and the corrected p; a hand-written or older finding's
    verdict is its writer's claim."""
    if basis is None:
        return "- (not decided by a session: the writer's claim)"
    fresh = "fresh " if basis.fresh_seeds else ""
    seeds = f"{len(basis.seeds)} {fresh}seed{'s' if len(basis.seeds) != 1 else ''}"
    on = f" on {seeds} ({_seed_span(basis.seeds)})" if basis.seeds else ""
    parts = [f"{basis.split}{on}"]
    if basis.mean_difference is not None:
        parts.append(f"mean PGR difference vs {basis.baseline} {basis.mean_difference:+.3f}")
    if basis.adjusted_p is not None:
        parts.append(
            f"{basis.test}, {basis.correction.capitalize()}-adjusted p {basis.adjusted_p:.3f} "
            f"over {basis.family_size} comparisons (level {basis.level:g})"
        )
    else:
        parts.append("no confirmation test was run")
    return "; ".join(parts) + (f". {basis.why}" if basis.why else "")


def _seed_span(seeds: list[int]) -> str:
    ordered = sorted(seeds)
    if len(ordered) > 2 and ordered[-1] - ordered[0] == len(ordered) - 1:
        return f"{ordered[0]}–{ordered[-1]}"
    return ", ".join(map(str, ordered))


def _configuration(config: dict[str, Any]) -> str:
    """A finding's `MethodConfig` as its diff from naive (what to set to train it again), or
    its JSON where the current method space no longer reads it."""
    import json

    from aar.session import changes_text

    return changes_text(config) or json.dumps(config, separators=(",", ":"))


def finding_details(finding: Finding, dups: list[Finding]) -> Any:
    """Every field as plain text: a finding's words are a model's or a person's, so rich markup
    in them (`[link=...]`, `[conceal]`) is shown, not obeyed, and each hidden character (ESC,
    bidi overrides, zero-width) is a visible mark (`aar.text.shown`)."""
    from rich.table import Table
    from rich.text import Text

    from aar.text import shown

    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    rows: list[tuple[str, str]] = [
        ("summary", finding.summary),
        ("hypothesis", finding.hypothesis),
        ("method", finding.method),
        *([("configuration", _configuration(finding.config))] if finding.config else []),
        ("tasks", ", ".join(finding.tasks)),
        ("verdict", finding.verdict),
        ("verdict basis", _basis(finding.verdict_basis)),
        *(
            _metric_rows("", finding.metrics)
            if finding.metrics is not None
            else [("PGR accuracy", f"{WITHHELD} (the scorer showed no cited test score)")]
        ),
    ]
    if finding.final_metrics is not None:
        rows += _metric_rows("holdout ", finding.final_metrics)
    review = finding.review
    who = f" by {review.reviewer}" if review.reviewer else ""
    note = f": {review.comment}" if review.comment else ""
    rows += [
        ("seeds", ", ".join(map(str, finding.metrics.seeds if finding.metrics else [])) or "-"),
        ("eval records", ", ".join(finding.eval_record_ids) or "- (none: hand-written)"),
        ("review", f"{review.status}{who}{note}"),
        ("session", f"{finding.session_id} (round {finding.round})"),
        ("git commit", finding.git_commit or "-"),
        ("created", finding.created_at.isoformat()),
        ("tags", ", ".join(finding.tags) or "-"),
    ]
    if finding.duplicate_of:
        rows.append(("duplicate of", finding.duplicate_of))
    if dups:
        rows.append(("duplicates", ", ".join(d.id for d in dups)))
    for key, value in rows:
        grid.add_row(key, Text(shown(value)))
    return grid
