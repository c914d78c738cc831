"""`aar memory ...`: add, query, show, list, export, import, stats, serve, warmup.

Thin: parse, call `aar.memory`, render. chromadb and numpy are imported inside the commands
so `aar --help` stays fast. The store comes from `settings.memory` (`AAR_MEMORY_PATH`,
`AAR_MEMORY_URL` or `aar.toml`) and is opened per command.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

if TYPE_CHECKING:
    from aar.memory import Finding, FindingFilter, FindingsStore

memory_app = typer.Typer(
    help="The findings memory: add, search and share evaluator-backed findings.",
    no_args_is_help=True,
)

TaskOpt = Annotated[str | None, typer.Option("--task", "-t", help="Only findings on this task.")]
VerdictOpt = Annotated[
    str | None, typer.Option("--verdict", help="supported | refuted | inconclusive.")
]
StatusOpt = Annotated[
    str | None, typer.Option("--status", help="Review status: pending | approved | rejected.")
]
SessionOpt = Annotated[str | None, typer.Option("--session", help="Only this session's findings.")]
TagOpt = Annotated[str | None, typer.Option("--tag", help="Only findings with this tag.")]
SinceOpt = Annotated[
    str | None, typer.Option("--since", help="Created at or after (ISO date or time).")
]
DupOpt = Annotated[
    bool, typer.Option("--duplicates", help="Also show findings linked as near-duplicates.")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def _store() -> FindingsStore:
    from aar.config import get_settings
    from aar.memory import open_store

    return open_store(get_settings())


def _filters(
    task: str | None,
    verdict: str | None,
    status: str | None,
    session: str | None,
    tag: str | None,
    since: str | None,
    duplicates: bool,
) -> FindingFilter:
    from pydantic import ValidationError

    from aar.memory import FindingFilter, InvalidQueryError

    try:
        return FindingFilter(
            task=task,
            verdict=verdict,
            status=status,
            session_id=session,
            tag=tag,
            since=since,
            include_duplicates=duplicates,
        )
    except ValidationError as exc:
        err = exc.errors()[0]
        field = {"session_id": "session"}.get(str(err["loc"][0]), str(err["loc"][0]))
        raise InvalidQueryError(f"--{field}: {err['msg']}") from None


def _pgr(finding: Finding) -> str:
    m = finding.metrics
    return f"{m.pgr_acc_mean:+.3f} ± {m.pgr_acc_se:.3f}"


def _table(findings: list[Finding], scores: list[float] | None, title: str, width: int) -> Any:
    """One row per finding; under 120 columns task and method move into the summary cell."""
    from rich.table import Table

    wide = width >= 120
    table = Table(title=title)
    table.add_column("id", no_wrap=True, min_width=max((len(f.id) for f in findings), default=2))
    if scores is not None:
        table.add_column("score", justify="right", no_wrap=True, min_width=5)
    if wide:
        for name in ("task", "method"):
            table.add_column(name, max_width=18, no_wrap=True, overflow="ellipsis")
    table.add_column("verdict / review", no_wrap=True, min_width=12)
    table.add_column("PGR acc (mean ± SE)", justify="right", no_wrap=True, min_width=14)
    table.add_column("summary" if wide else "task · method · summary", ratio=1, min_width=24)
    for n, f in enumerate(findings):
        summary = f.summary if len(f.summary) <= 200 else f.summary[:197] + "..."
        cells = [f.id]
        if scores is not None:
            cells.append(f"{scores[n]:.3f}")
        if wide:
            cells += [", ".join(f.tasks), f.method]
        else:
            summary = f"[bold]{', '.join(f.tasks)} · {f.method}[/bold]  {summary}"
        cells += [f"{f.verdict}\n{f.review.status}", _pgr(f), summary]
        table.add_row(*cells)
    return table


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2) + "\n")


def _read_input(source: str) -> Any:
    from aar.memory import InvalidFindingError

    if source == "-":
        text, name = sys.stdin.read(), "<stdin>"
    else:
        path = Path(source)
        if not path.is_file():
            raise InvalidFindingError([f"{source}: no such file"])
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidFindingError([f"{source}: cannot read it ({exc})"]) from None
        name = source
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidFindingError(
            [f"{name}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"]
        ) from None


@memory_app.command("add")
def add(
    source: Annotated[str, typer.Argument(help="JSON file with a finding or a list; '-' = stdin.")],
) -> None:
    """Validate and add findings (all or nothing); near-duplicates are linked, not added."""
    from aar.memory import parse_findings

    data = _read_input(source)
    findings = parse_findings(data if isinstance(data, list) else [data])
    results = _store().add_many(findings)
    console = Console()
    for r in results:
        if r.duplicate_of:
            console.print(
                f"linked {r.id} as a near-duplicate of {r.duplicate_of} "
                f"(similarity {r.similarity:.3f})"
            )
        else:
            console.print(f"added {r.id}")


@memory_app.command("query")
def query(
    text: Annotated[str, typer.Argument(help="What you are looking for, in plain words.")],
    task: TaskOpt = None,
    verdict: VerdictOpt = None,
    status: StatusOpt = None,
    session: SessionOpt = None,
    tag: TagOpt = None,
    since: SinceOpt = None,
    duplicates: DupOpt = False,
    k: Annotated[int, typer.Option("-k", help="How many findings to return.")] = 10,
    as_json: JsonOpt = False,
) -> None:
    """Findings closest in meaning to TEXT, filtered by metadata."""
    filters = _filters(task, verdict, status, session, tag, since, duplicates)
    hits = _store().search(text, filters, k=k)
    if as_json:
        _print_json([{**h.finding.model_dump(mode="json"), "score": h.score} for h in hits])
        return
    if not hits:
        Console().print("no matching findings")
        return
    console = Console()
    findings, scores = [h.finding for h in hits], [h.score for h in hits]
    console.print(_table(findings, scores, f"findings for {text!r}", console.width))


@memory_app.command("show")
def show(
    finding_id: Annotated[str, typer.Argument(metavar="ID", help="A finding id.")],
    as_json: JsonOpt = False,
) -> None:
    """One finding with every field, and the near-duplicates linked to it."""
    store = _store()
    finding = store.get(finding_id)
    dups = store.duplicates_of(finding_id)
    if as_json:
        _print_json({**finding.model_dump(mode="json"), "duplicates": [d.id for d in dups]})
        return
    from rich.panel import Panel
    from rich.table import Table

    m = finding.metrics
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()

    def ci(bounds: tuple[float, float] | None) -> str:
        return f" [95% CI {bounds[0]:+.3f}, {bounds[1]:+.3f}]" if bounds else ""

    rows: list[tuple[str, str]] = [
        ("summary", finding.summary),
        ("hypothesis", finding.hypothesis),
        ("method", finding.method),
        ("tasks", ", ".join(finding.tasks)),
        ("verdict", finding.verdict),
        ("PGR accuracy", f"{_pgr(finding)}{ci(m.pgr_acc_ci)}"),
    ]
    if m.pgr_auroc_mean is not None:
        se = f" ± {m.pgr_auroc_se:.3f}" if m.pgr_auroc_se is not None else ""
        rows.append(("PGR AUROC", f"{m.pgr_auroc_mean:+.3f}{se}{ci(m.pgr_auroc_ci)}"))
    if m.accuracy_mean is not None:
        se = f" ± {m.accuracy_se:.3f}" if m.accuracy_se is not None else ""
        rows.append(("accuracy", f"{m.accuracy_mean:.3f}{se}"))
    review = finding.review
    who = f" by {review.reviewer}" if review.reviewer else ""
    note = f": {review.comment}" if review.comment else ""
    rows += [
        ("seeds", ", ".join(map(str, m.seeds)) or "-"),
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
        grid.add_row(key, value)
    Console().print(Panel(grid, title=finding.id, expand=False))


@memory_app.command("list")
def list_(
    task: TaskOpt = None,
    verdict: VerdictOpt = None,
    status: StatusOpt = None,
    session: SessionOpt = None,
    tag: TagOpt = None,
    since: SinceOpt = None,
    duplicates: DupOpt = False,
    limit: Annotated[int | None, typer.Option("--limit", "-n", help="At most this many.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Findings matching the filters, newest first."""
    filters = _filters(task, verdict, status, session, tag, since, duplicates)
    findings = _store().list(filters, limit=limit)
    if as_json:
        _print_json([f.model_dump(mode="json") for f in findings])
        return
    console = Console()
    console.print(_table(findings, None, f"{len(findings)} finding(s)", console.width))


@memory_app.command("export")
def export(
    file: Annotated[Path, typer.Argument(help="JSONL file to write ('-' = stdout).")],
) -> None:
    """Write every finding as JSON lines (exact: ids, links, reviews)."""
    store = _store()
    if str(file) == "-":
        store.export_jsonl(sys.stdout)
        return
    tmp = file.with_name(file.name + ".part")
    with tmp.open("w", encoding="utf-8") as out:
        n = store.export_jsonl(out)
    tmp.replace(file)
    Console(stderr=True).print(f"exported {n} finding(s) to {file}")


@memory_app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help="JSONL file written by `aar memory export`.")],
) -> None:
    """Add exported findings as they are (all or nothing; identical ones are skipped)."""
    from aar.memory import InvalidFindingError

    if not file.is_file():
        raise InvalidFindingError([f"{file}: no such file"])
    with file.open(encoding="utf-8") as lines:
        result = _store().import_jsonl(lines)
    Console().print(
        f"imported {result.added} finding(s), skipped {result.skipped_identical} already stored"
    )


@memory_app.command("stats")
def stats(as_json: JsonOpt = False) -> None:
    """Where the store is, its embedding model, and counts by verdict, status and task."""
    s = _store().stats()
    if as_json:
        _print_json(s.model_dump())
        return
    console = Console()
    console.print(f"store      {s.location} ({s.mode})")
    console.print(f"embedding  {s.embedding_model} (dim {s.embedding_dim})")
    console.print(f"findings   {s.findings} ({s.duplicates} linked as near-duplicates)")
    for label, counts in (
        ("verdict", s.by_verdict),
        ("status", s.by_status),
        ("task", s.by_task),
    ):
        shown = ", ".join(f"{k} {v}" for k, v in counts.items()) or "-"
        console.print(f"{label:<10} {shown}")


@memory_app.command("serve")
def serve(
    path: Annotated[
        Path | None, typer.Option("--path", help="Server data directory (default memory.path).")
    ] = None,
    port: Annotated[int, typer.Option("--port", help="TCP port.")] = 8000,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
) -> None:
    """Run a Chroma server for a team; point AAR_MEMORY_URL=http://HOST:PORT at it."""
    from aar.config import get_settings
    from aar.memory import MemoryServerError
    from aar.memory._store import check_local_dir

    directory = path or get_settings().memory.path
    check_local_dir(directory)
    if not 1 <= port <= 65535:
        raise MemoryServerError(f"--port must be between 1 and 65535, got {port}")
    chroma = Path(sys.executable).parent / "chroma"
    if not chroma.exists():
        import shutil

        found = shutil.which("chroma")
        if not found:
            raise MemoryServerError("the `chroma` command (from chromadb) is not installed")
        chroma = Path(found)
    import os
    import subprocess

    directory.mkdir(parents=True, exist_ok=True)
    Console(stderr=True).print(
        f"serving {directory} at http://{host}:{port}; use AAR_MEMORY_URL=http://{host}:{port}"
        " (Ctrl-C stops)"
    )
    proc = subprocess.Popen(
        [str(chroma), "run", "--path", str(directory), "--host", host, "--port", str(port)],
        env={**os.environ, "ANONYMIZED_TELEMETRY": "False"},
    )
    try:
        code = proc.wait()
    except KeyboardInterrupt:
        proc.terminate()
        code = proc.wait(timeout=10)
    raise typer.Exit(code)


@memory_app.command("warmup")
def warmup(
    embedding: Annotated[
        list[str] | None,
        typer.Option("--embedding", help="minilm and/or static (default: both)."),
    ] = None,
) -> None:
    """Build the offline embedding artefacts now (ONNX ~10 s, static table ~1-2 min)."""
    import time

    from aar.config import get_settings
    from aar.memory import EMBEDDINGS, load_embedder

    cache = get_settings().memory.cache_dir
    console = Console()
    for kind in embedding or list(EMBEDDINGS):
        started = time.monotonic()
        emb = load_embedder(kind, cache)
        took = time.monotonic() - started
        console.print(
            f"{kind}: {emb.name} (dim {emb.dim}) ready in {cache} ({took:.1f} s)", soft_wrap=True
        )
