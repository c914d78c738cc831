"""`aar memory ...`: add, query, show, list, export, import, stats, delete, repair, serve, warmup.

Thin: parse, call `aar.memory`, render (`memory_views.py`). Arguments, filters, paths and
input files (`memory_inputs.py`) are checked before the store is opened, so a mistake is one
line in well under a second; chromadb is imported only by commands that need it (`query` on a
local store with a current index does not). The store comes from `settings.memory`
(`AAR_MEMORY_PATH`, `AAR_MEMORY_URL` or `aar.toml`), opened per command. A store holding
damaged records still answers: each skipped record is one `warning:` line.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from aar._cli.memory_inputs import (
    check_export_target,
    check_query_text,
    read_json,
    read_text,
    refuse_reviews,
)
from aar._cli.memory_reading import absent_stats, reading_store, session_filter
from aar._cli.memory_views import finding_details, findings_table
from aar._cli.output import warn
from aar.errors import UsageError

if TYPE_CHECKING:
    from aar.memory import FindingFilter, FindingsStore

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


def _store(*, connect: bool = True) -> FindingsStore:
    from aar.config import get_settings
    from aar.memory import open_store

    return open_store(get_settings(), connect=connect)


def _warn_bad(store: FindingsStore) -> None:
    """One line per damaged record the command skipped, and how to repair the store."""
    for bad in store.bad_records.values():
        warn(
            f"skipped damaged record {bad.id} ({bad.problem}); "
            "`aar memory repair --drop-bad` saves and removes it"
        )


def _filters(
    task: str | None,
    verdict: str | None,
    status: str | None,
    session: str | None,
    tag: str | None,
    since: str | None,
    duplicates: bool,
) -> FindingFilter:
    """The filter options as a `FindingFilter`; a bad value is one line naming its option
    (only `--verdict`, `--status` and `--since` can be bad, and each is named as its field)."""
    from pydantic import ValidationError

    from aar.errors import validation_message
    from aar.memory import FindingFilter

    try:
        return FindingFilter.model_validate(
            {
                "task": task,
                "verdict": verdict,
                "status": status,
                "session_id": session_filter(session),
                "tag": tag,
                "since": since,
                "include_duplicates": duplicates,
            }
        )
    except ValidationError as exc:
        raise UsageError(validation_message(exc, prefix="--")) from None


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2) + "\n")


@memory_app.command("add")
def add(
    source: Annotated[str, typer.Argument(help="JSON file with a finding or a list; '-' = stdin.")],
) -> None:
    """Validate and add findings (all or nothing); near-duplicates are linked, not added."""
    from aar.memory import parse_findings

    data = read_json(source)
    if data == []:
        raise UsageError(f"{source} holds an empty list: no findings to add")
    findings = parse_findings(data if isinstance(data, list) else [data])
    refuse_reviews(findings)
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
    k: Annotated[
        int, typer.Option("-k", min=1, max=1000, help="How many findings to return.")
    ] = 10,
    as_json: JsonOpt = False,
) -> None:
    """Findings most relevant to TEXT (meaning and method family), filtered by metadata."""
    filters = _filters(task, verdict, status, session, tag, since, duplicates)
    if not text.strip():
        raise UsageError("the query text is empty")
    check_query_text(text)
    store = reading_store(connect=False)
    hits = store.search(text, filters, k=k) if store is not None else []
    if as_json:
        _print_json(
            [
                {**h.finding.model_dump(mode="json"), "score": h.score, "similarity": h.similarity}
                for h in hits
            ]
        )
    elif not hits:
        Console().print("no matching findings")
    else:
        console = Console()
        findings, scores = [h.finding for h in hits], [h.score for h in hits]
        console.print(findings_table(findings, scores, f"findings for {text!r}", console.width))
    if store is not None:
        _warn_bad(store)


@memory_app.command("show")
def show(
    finding_id: Annotated[str, typer.Argument(metavar="ID", help="A finding id.")],
    as_json: JsonOpt = False,
) -> None:
    """One finding with every field, and the near-duplicates linked to it."""
    store = reading_store()
    if store is None:
        raise UsageError(f"no finding {finding_id!r}: the findings memory is empty")
    finding = store.get(finding_id)
    dups = store.duplicates_of(finding_id)
    if as_json:
        _print_json({**finding.model_dump(mode="json"), "duplicates": [d.id for d in dups]})
    else:
        from rich.panel import Panel

        Console().print(Panel(finding_details(finding, dups), title=finding.id, expand=False))
    _warn_bad(store)


@memory_app.command("list")
def list_(
    task: TaskOpt = None,
    verdict: VerdictOpt = None,
    status: StatusOpt = None,
    session: SessionOpt = None,
    tag: TagOpt = None,
    since: SinceOpt = None,
    duplicates: DupOpt = False,
    limit: Annotated[
        int | None, typer.Option("--limit", "-n", min=0, help="At most this many.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Findings matching the filters, newest first."""
    filters = _filters(task, verdict, status, session, tag, since, duplicates)
    store = reading_store()
    findings = store.list_findings(filters, limit=limit) if store is not None else []
    if as_json:
        _print_json([f.model_dump(mode="json") for f in findings])
    else:
        console = Console()
        console.print(findings_table(findings, None, f"{len(findings)} finding(s)", console.width))
    if store is not None:
        _warn_bad(store)


@memory_app.command("export")
def export(
    file: Annotated[Path, typer.Argument(help="JSONL file to write ('-' = stdout).")],
    force: Annotated[bool, typer.Option("--force", help="Replace FILE if it exists.")] = False,
) -> None:
    """Write every finding with its vectors as JSON lines (exact: ids, links, reviews)."""
    import io

    from aar.files import write_atomic, write_new

    if str(file) != "-":
        check_export_target(file, force)
    store = _store()
    buffer = io.StringIO()
    n = store.export_jsonl(buffer)
    if str(file) == "-":
        sys.stdout.write(buffer.getvalue())
    elif force:  # replace the file a link names, never the link or what is not a file
        write_atomic(Path(os.path.realpath(file)), buffer.getvalue())
    else:
        write_new(file, buffer.getvalue())
        Console(stderr=True).print(f"exported {n} finding(s) to {file}")
    _warn_bad(store)


@memory_app.command("import")
def import_(
    file: Annotated[str, typer.Argument(help="JSONL file written by `aar memory export`; '-'.")],
    no_reembed: Annotated[
        bool,
        typer.Option(
            "--no-reembed", help="Fail instead of embedding findings whose vectors do not fit."
        ),
    ] = False,
) -> None:
    """Add exported findings as they are (all or nothing; identical ones are skipped)."""
    from aar.memory import read_export

    text, name = read_text(file)
    if not text.strip():
        raise UsageError(f"{name} is empty: no findings to import")
    parsed = read_export(text.splitlines())  # every problem of the file before the store opens
    result = _store().import_export(parsed, reembed=not no_reembed)
    if result.reviews_reset:
        counts = ", ".join(f"{k} {v}" for k, v in sorted(result.reviews_reset.items()))
        warn(
            f"{sum(result.reviews_reset.values())} imported finding(s) carried review decisions "
            f"({counts}) that no audit record here backs; stored as pending (the earlier "
            "decision is kept in the review comment): decide them with `aar review`"
        )
    how = (
        f"vectors re-used for {result.vectors_reused}, embedded {result.embedded}"
        if result.added
        else "nothing new"
    )
    Console().print(
        f"imported {result.added} finding(s), skipped {result.skipped_identical} already "
        f"stored ({how})"
    )


@memory_app.command("stats")
def stats(as_json: JsonOpt = False) -> None:
    """Where the store is, its embedding model, and counts by verdict, status and task."""
    store = reading_store()
    if store is None:  # nothing stored yet (the warning says where it looked)
        if as_json:
            _print_json(absent_stats())
        return
    s = store.stats()
    if as_json:
        _print_json(s.model_dump())
    else:
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
        if s.bad_records:
            console.print(f"damaged    {s.bad_records} record(s): see `aar memory repair`")
    _warn_bad(store)


@memory_app.command("delete")
def delete(finding_id: Annotated[str, typer.Argument(metavar="ID", help="A finding id.")]) -> None:
    """Remove one finding (a damaged record too); its near-duplicates are relinked."""
    relinked = _store().delete(finding_id)
    extra = f"; relinked {', '.join(relinked)}" if relinked else ""
    Console().print(f"deleted {finding_id}{extra}")


@memory_app.command("repair")
def repair(
    drop_bad: Annotated[
        bool, typer.Option("--drop-bad", help="Remove damaged records (saved first).")
    ] = False,
    save: Annotated[
        Path | None,
        typer.Option("--save", help="Where --drop-bad saves them (default: a new file here)."),
    ] = None,
) -> None:
    """Name every damaged record and rebuild the search index; --drop-bad removes them."""
    from datetime import UTC, datetime

    from aar.files import check_creatable

    target = None
    if drop_bad:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        target = save or Path(f"memory-damaged-{stamp}.jsonl")
        check_creatable(target, "file for the damaged records")
    elif save is not None:
        raise UsageError("--save only applies with --drop-bad")
    result = _store().repair(drop_bad=drop_bad, save_to=target)
    console = Console(soft_wrap=True, highlight=False)
    for bad in result.bad:
        console.print(f"damaged {bad.id}: {bad.problem}")
    if result.dropped:
        console.print(f"dropped {len(result.dropped)} record(s), saved to {result.saved_to}")
    if result.relinked:
        console.print(f"relinked {', '.join(result.relinked)}")
    hint = " (add --drop-bad to remove them)" if result.bad and not drop_bad else ""
    console.print(
        f"{len(result.bad)} damaged record(s){hint}; search index rebuilt, {result.indexed} "
        "finding(s)"
    )


@memory_app.command("serve")
def serve(
    path: Annotated[
        Path | None, typer.Option("--path", help="Server data directory (default memory.path).")
    ] = None,
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="TCP port.")] = 8000,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
) -> None:
    """Run a Chroma server for a team; point AAR_MEMORY_URL=http://HOST:PORT at it."""
    from aar.config import get_settings
    from aar.memory import serve_chroma

    directory = path or get_settings().memory.path

    def ready() -> None:
        Console(stderr=True).print(
            f"serving {directory} at http://{host}:{port}; use AAR_MEMORY_URL=http://{host}:{port}"
            " (Ctrl-C stops)"
        )

    serve_chroma(directory, host, port, on_ready=ready, warn=warn)


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
