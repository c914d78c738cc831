"""`aar memory ...`: add, query, show, list, export, import, stats, delete, repair, serve, warmup.

Thin: parse, call `aar.memory`, render. Arguments, filters and paths are checked before the
store is opened, so a mistake is one line in well under a second; chromadb is imported only by
commands that need it (`query` on a local store with a current index does not). The store comes
from `settings.memory` (`AAR_MEMORY_PATH`, `AAR_MEMORY_URL` or `aar.toml`), opened per command.
A store holding damaged records still answers: each skipped record is one `warning:` line.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from aar._cli.output import warn
from aar.errors import PathError, UsageError

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
    from pydantic import ValidationError

    from aar.memory import FindingFilter

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
        raise UsageError(f"--{field}: {err['msg']}") from None


WITHHELD = "withheld"
"""What a finding's feedback shows when the scorer withheld every cited test score."""


def _pgr(finding: Finding) -> str:
    m = finding.metrics
    return WITHHELD if m is None else f"{m.pgr_acc_mean:+.3f} ± {m.pgr_acc_se:.3f}"


def _table(findings: list[Finding], scores: list[float] | None, title: str, width: int) -> Any:
    """One row per finding; under 120 columns task and method move into the summary cell."""
    from rich.table import Table
    from rich.text import Text

    from aar.text import shown

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
        text = shown(f.summary, keep="")  # text, never markup; hidden characters marked
        summary = Text(text if len(text) <= 200 else text[:197] + "...")
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


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2) + "\n")


def _read_text(source: str) -> tuple[str, str]:
    """(text, name) of a UTF-8 file or of stdin ('-'); each problem is one clear line."""
    if source == "-":
        return sys.stdin.read(), "<stdin>"
    path = Path(source)
    source = source if source.isprintable() else ascii(source)
    if path.is_dir():
        raise PathError(f"{source} is a directory, not a file")
    if not path.is_file():
        raise PathError(f"{source}: no such file")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise PathError(f"{source}: cannot read it ({exc.strerror})") from None
    try:
        return raw.decode("utf-8"), source
    except UnicodeDecodeError as exc:
        raise PathError(
            f"{source} is not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start})"
        ) from None


def _read_json(source: str) -> Any:
    from aar.memory import InvalidFindingError

    text, name = _read_text(source)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidFindingError(
            [f"{name}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"]
        ) from None
    except RecursionError:
        deep = f"{name}: the JSON is nested too deeply to be a finding"
        raise InvalidFindingError([deep]) from None


def _refuse_reviews(findings: list[Finding]) -> None:
    """Only the review gate sets a review: a hand-written `"review": {"status": "approved"}`
    would otherwise be stored as approved with no audit record behind it. Likewise only a
    session's end of round sets a verdict basis (the holdout data and test that decided it)."""
    from aar.memory import InvalidFindingError, Review

    problems = [
        f"record {n}: the input sets a review ({f.review.status}"
        + (f" by {f.review.reviewer}" if f.review.reviewer else "")
        + "); only the review gate does: add it without 'review', then `aar review approve ID`"
        for n, f in enumerate(findings, 1)
        if f.review != Review()
    ]
    problems += [
        f"record {n}: the input sets a verdict basis; only a session's end of round decides "
        "a verdict on holdout and records what decided it: add the finding without "
        "'verdict_basis'"
        for n, f in enumerate(findings, 1)
        if f.verdict_basis is not None
    ]
    if problems:
        raise InvalidFindingError(problems)


@memory_app.command("add")
def add(
    source: Annotated[str, typer.Argument(help="JSON file with a finding or a list; '-' = stdin.")],
) -> None:
    """Validate and add findings (all or nothing); near-duplicates are linked, not added."""
    from aar.memory import parse_findings

    data = _read_json(source)
    if data == []:
        raise UsageError(f"{source} holds an empty list: no findings to add")
    findings = parse_findings(data if isinstance(data, list) else [data])
    _refuse_reviews(findings)
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


def _check_text(text: str) -> None:
    """Bytes that are not UTF-8 reach Python as lone surrogates, which no embedder takes."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise UsageError(
            f"the query text is not valid UTF-8 (character {exc.start + 1} is a stray byte)"
        ) from None


def _check_k(k: int) -> None:
    if not 1 <= k <= 1000:
        raise UsageError(f"-k must be between 1 and 1000, got {k}")


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
    """Findings most relevant to TEXT (meaning and method family), filtered by metadata."""
    filters = _filters(task, verdict, status, session, tag, since, duplicates)
    _check_k(k)
    if not text.strip():
        raise UsageError("the query text is empty")
    _check_text(text)
    store = _store(connect=False)
    hits = store.search(text, filters, k=k)
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
        console.print(_table(findings, scores, f"findings for {text!r}", console.width))
    _warn_bad(store)


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
    else:
        from rich.panel import Panel

        Console().print(Panel(_details(finding, dups), title=finding.id, expand=False))
    _warn_bad(store)


def _metric_rows(prefix: str, m: Any) -> list[tuple[str, str]]:
    def ci(bounds: tuple[float, float] | None) -> str:
        return f" [95% CI {bounds[0]:+.3f}, {bounds[1]:+.3f}]" if bounds else ""

    rows = [
        (f"{prefix}PGR accuracy", f"{m.pgr_acc_mean:+.3f} ± {m.pgr_acc_se:.3f}{ci(m.pgr_acc_ci)}")
    ]
    if m.pgr_auroc_mean is not None:
        se = f" ± {m.pgr_auroc_se:.3f}" if m.pgr_auroc_se is not None else ""
        rows.append((f"{prefix}PGR AUROC", f"{m.pgr_auroc_mean:+.3f}{se}{ci(m.pgr_auroc_ci)}"))
    if m.accuracy_mean is not None:
        se = f" ± {m.accuracy_se:.3f}" if m.accuracy_se is not None else ""
        rows.append((f"{prefix}accuracy", f"{m.accuracy_mean:.3f}{se}"))
    return rows


def _details(finding: Finding, dups: list[Finding]) -> Any:
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
        ("tasks", ", ".join(finding.tasks)),
        ("verdict", finding.verdict),
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
    if limit is not None and limit < 0:
        raise UsageError(f"--limit must be 0 or more, got {limit}")
    store = _store()
    findings = store.list_findings(filters, limit=limit)
    if as_json:
        _print_json([f.model_dump(mode="json") for f in findings])
    else:
        console = Console()
        console.print(_table(findings, None, f"{len(findings)} finding(s)", console.width))
    _warn_bad(store)


def _check_export_target(file: Path, force: bool) -> None:
    """Before any work: the file can be written, and an existing one only with --force."""
    from aar.files import check_creatable, check_regular_or_absent, check_writable_dir

    if file.is_dir():
        raise PathError(f"{file} is a directory; give a file name, e.g. {file}/findings.jsonl")
    if not (file.exists() or file.is_symlink()):
        check_creatable(file, "export file")
    elif not force:
        raise PathError(f"{file} already exists; refusing to overwrite it (add --force)")
    else:
        check_regular_or_absent(file, "export file")
        check_writable_dir(Path(os.path.realpath(file)).parent, "export directory")


@memory_app.command("export")
def export(
    file: Annotated[Path, typer.Argument(help="JSONL file to write ('-' = stdout).")],
    force: Annotated[bool, typer.Option("--force", help="Replace FILE if it exists.")] = False,
) -> None:
    """Write every finding with its vectors as JSON lines (exact: ids, links, reviews)."""
    import io

    from aar.files import write_atomic, write_new

    if str(file) != "-":
        _check_export_target(file, force)
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

    text, name = _read_text(file)
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
    store = _store()
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


def _check_listen(host: str, port: int) -> None:
    """The address can be listened on now (a clear line instead of a server that dies)."""
    import socket

    from aar.memory import MemoryServerError

    if not 1 <= port <= 65535:
        raise UsageError(f"--port must be between 1 and 65535, got {port}")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise MemoryServerError(f"cannot listen on {host!r}: {exc}") from None
    family, _, _, _, address = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(address)
        except OSError as exc:
            raise MemoryServerError(f"cannot listen on {host}:{port}: {exc.strerror}") from None


def _wait_ready(proc: Any, host: str, port: int, timeout: float = 60.0) -> None:
    import time
    import urllib.request

    from aar.memory import MemoryServerError

    probe = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    url = f"http://{probe}:{port}/api/v2/heartbeat"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise MemoryServerError(f"the Chroma server exited with code {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    proc.terminate()
    raise MemoryServerError(f"the Chroma server did not answer on {host}:{port} within 60 s")


def _stop_like_ctrl_c() -> None:
    """SIGTERM and SIGHUP (`kill`, a service manager, a closed terminal) stop the server the way
    Ctrl-C does, and SIGINT works even when a shell started aar with it ignored: otherwise aar
    died and left the Chroma server running on the port."""
    import signal

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, interrupt)


def _stop_server(proc: Any) -> int:
    """Ask the Chroma server to stop and return its exit code; kill it if it has not stopped
    within 10 s."""
    import subprocess

    proc.terminate()
    try:
        return proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        warn("the Chroma server did not stop within 10 s of SIGTERM; killed it")
        proc.kill()
        proc.wait()
        return 0  # the stop that was asked for, warned about above


@memory_app.command("serve")
def serve(
    path: Annotated[
        Path | None, typer.Option("--path", help="Server data directory (default memory.path).")
    ] = None,
    port: Annotated[int, typer.Option("--port", help="TCP port.")] = 8000,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
) -> None:
    """Run a Chroma server for a team; point AAR_MEMORY_URL=http://HOST:PORT at it."""
    import os
    import shutil
    import subprocess

    from aar.config import get_settings
    from aar.memory import MemoryServerError, check_local_dir

    directory = path or get_settings().memory.path
    check_local_dir(directory)
    _check_listen(host, port)
    chroma = Path(sys.executable).parent / "chroma"
    if not chroma.exists():
        found = shutil.which("chroma")
        if not found:
            raise MemoryServerError("the `chroma` command (from chromadb) is not installed")
        chroma = Path(found)
    directory.mkdir(parents=True, exist_ok=True)
    _stop_like_ctrl_c()
    proc = subprocess.Popen(
        [str(chroma), "run", "--path", str(directory), "--host", host, "--port", str(port)],
        env={**os.environ, "ANONYMIZED_TELEMETRY": "False"},
        stdout=subprocess.DEVNULL,
    )
    try:
        _wait_ready(proc, host, port)
        Console(stderr=True).print(
            f"serving {directory} at http://{host}:{port}; use AAR_MEMORY_URL=http://{host}:{port}"
            " (Ctrl-C stops)"
        )
        code = proc.wait()
    except KeyboardInterrupt:
        code = _stop_server(proc)
    if code not in (0, 130, 143, -2, -15):  # stopped by Ctrl-C or SIGTERM
        raise MemoryServerError(f"the Chroma server stopped with exit code {code}")


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
