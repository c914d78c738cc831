"""What `aar memory` reads and checks before it opens the store: files or stdin as UTF-8 text
and JSON, the query text, and the export target; each problem is one clear line.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aar.errors import PathError, UsageError

if TYPE_CHECKING:
    from aar.memory import Finding


def read_text(source: str) -> tuple[str, str]:
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


def read_json(source: str) -> Any:
    from aar.memory import InvalidFindingError

    text, name = read_text(source)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidFindingError(
            [f"{name}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"]
        ) from None
    except RecursionError:
        deep = f"{name}: the JSON is nested too deeply to be a finding"
        raise InvalidFindingError([deep]) from None


def refuse_reviews(findings: list[Finding]) -> None:
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


def check_query_text(text: str) -> None:
    """Bytes that are not UTF-8 reach Python as lone surrogates, which no embedder takes."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise UsageError(
            f"the query text is not valid UTF-8 (character {exc.start + 1} is a stray byte)"
        ) from None


def check_export_target(file: Path, force: bool) -> None:
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
