"""The export file: JSON lines that carry each finding with its vectors, and reading it back.

Format 2 (what `export` writes):

    {"aar_memory_export": 2, "schema_version": 1, "count": N,
     "embedders": [{"name": ..., "dim": 384}, ...], "vector_encoding": "float32-le-base64",
     "glossary": "<sha256 of glossary.toml>"}
    {"finding": {...}, "vectors": ["<base64>", ...], "families": ["logconf", ...]}
                                                           one line per finding, oldest first

Vectors are the exact float32 values the store holds, one per embedder in the header, so an
import into a store with the same embedders re-uses them instead of re-embedding (MiniLM embeds
~90 findings/s on 2 cores). The header has no timestamp, so export -> import -> export is
byte-identical, and its count catches a file cut at a line boundary. The method-family tags
travel too and are re-used under the same glossary (tagging costs ~0.2 ms a finding). Plain
findings, one JSON object a line (format 1, what older aar wrote), still import; they are
embedded.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ValidationError

from aar.memory._errors import InvalidFindingError
from aar.memory._finding import SCHEMA_VERSION, Finding
from aar.memory._records import error_where, validation_problem

if TYPE_CHECKING:
    import numpy as np

    from aar.memory._embed import Embedder

EXPORT_FORMAT = 2
_MAX_PROBLEMS = 20


class EmbedderInfo(BaseModel):
    name: str
    dim: int


class ExportHeader(BaseModel):
    aar_memory_export: Literal[2] = EXPORT_FORMAT
    schema_version: int = SCHEMA_VERSION
    count: int
    embedders: list[EmbedderInfo]
    vector_encoding: Literal["float32-le-base64"] = "float32-le-base64"
    glossary: str | None = None


@dataclass
class ParsedExport:
    """Validated findings and, per embedder name, their vectors (None: the file had none)."""

    findings: list[Finding]
    vectors: dict[str, list[np.ndarray]] = field(default_factory=dict)
    families: list[list[str]] = field(default_factory=list)  # one list per finding, or empty
    header: ExportHeader | None = None


def write_export(
    out: IO[str],
    embedders: Sequence[Embedder],
    items: Sequence[tuple[Finding, Sequence[np.ndarray], Sequence[str]]],
    glossary: str,
) -> int:
    """Write the header and one line per (finding, vectors, family keys)."""
    header = ExportHeader(
        count=len(items),
        embedders=[EmbedderInfo(name=e.name, dim=e.dim) for e in embedders],
        glossary=glossary,
    )
    out.write(header.model_dump_json() + "\n")
    for finding, vectors, families in items:
        encoded = json.dumps([_encode(v) for v in vectors])
        out.write(
            f'{{"finding": {finding.model_dump_json()}, "vectors": {encoded}, '
            f'"families": {json.dumps(list(families))}}}\n'
        )
    return len(items)


def _encode(vector: np.ndarray) -> str:
    import numpy as np

    return base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode("ascii")


def _decode(text: Any, dim: int) -> np.ndarray:
    """A unit vector of `dim` finite float32 values, or ValueError saying what is wrong."""
    import numpy as np

    if not isinstance(text, str):
        raise ValueError("a vector must be a base64 string")
    try:
        raw = binascii.a2b_base64(text, strict_mode=True)
    except (binascii.Error, ValueError):
        raise ValueError("a vector is not valid base64") from None
    if len(raw) != 4 * dim:
        raise ValueError(f"a vector has {len(raw) // 4} values, the header says {dim}")
    vec = np.frombuffer(raw, dtype="<f4")
    if not np.isfinite(vec).all():
        raise ValueError("a vector holds NaN or infinity")
    if abs(float(vec @ vec) - 1.0) > 1e-3:
        raise ValueError("a vector is not unit-length (not written by aar)")
    return vec


def read_export(lines: Iterable[str]) -> ParsedExport:
    """Parse format 2 or plain JSON-lines findings; every problem is one line of one error."""
    problems: list[str] = []
    numbered = ((n, line) for n, line in enumerate(lines, 1) if line.strip())
    first = next(numbered, None)
    if first is None:
        return ParsedExport(findings=[])
    header = _header(first[1], problems)
    rest = list(numbered) if header is not None else [first, *numbered]
    parsed = ParsedExport(findings=[], header=header)
    if header is not None:
        parsed.vectors = {e.name: [] for e in header.embedders}
    seen: set[str] = set()
    for n, line in rest:
        if len(problems) >= _MAX_PROBLEMS:
            problems.append("... (more problems not listed)")
            break
        _parse_line(n, line, header, parsed, seen, problems)
    if len(parsed.families) != len(parsed.findings):
        parsed.families = []  # some line had none: tag them all again
    if header is not None and not problems and header.count != len(parsed.findings):
        problems.append(
            f"the file is truncated or padded: its header says {header.count} findings, "
            f"it holds {len(parsed.findings)}"
        )
    if problems:
        raise InvalidFindingError(problems)
    return parsed


def _header(line: str, problems: list[str]) -> ExportHeader | None:
    try:
        data = json.loads(line)
    except json.JSONDecodeError:
        return None  # reported as line 1 by the plain-findings path
    if not isinstance(data, dict) or "aar_memory_export" not in data:
        return None
    try:
        return ExportHeader.model_validate(data)
    except ValidationError as exc:
        problems.append(f"line 1: not an export header aar can read ({validation_problem(exc)})")
        return ExportHeader(count=0, embedders=[])


def _parse_line(
    n: int,
    line: str,
    header: ExportHeader | None,
    parsed: ParsedExport,
    seen: set[str],
    problems: list[str],
) -> None:
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        problems.append(f"line {n}: not JSON ({exc.msg})")
        return
    raw, vectors = data, None
    if header is not None:
        if not isinstance(data, dict) or not {"finding", "vectors"} <= data.keys():
            problems.append(f"line {n}: expected an object with 'finding' and 'vectors'")
            return
        raw, vectors = data["finding"], data["vectors"]
    if not isinstance(raw, dict):
        problems.append(f"line {n}: expected a JSON object, got {type(raw).__name__}")
        return
    try:
        finding = Finding.model_validate(raw)
    except ValidationError as exc:
        problems.extend(f"line {n}: {error_where(e)}: {e['msg']}" for e in exc.errors())
        return
    if finding.id in seen:
        problems.append(f"line {n}: id {finding.id} appears twice in the file")
        return
    if header is not None:
        try:
            decoded = _vectors(vectors, header)
        except ValueError as exc:
            problems.append(f"line {n}: {exc}")
            return
        for info, vec in zip(header.embedders, decoded, strict=True):
            parsed.vectors[info.name].append(vec)
        families = data.get("families")
        if isinstance(families, list) and all(isinstance(f, str) for f in families):
            parsed.families.append(families)
    seen.add(finding.id)
    parsed.findings.append(finding)


def _vectors(vectors: Any, header: ExportHeader) -> list[np.ndarray]:
    if not isinstance(vectors, list) or len(vectors) != len(header.embedders):
        raise ValueError(f"expected {len(header.embedders)} vector(s), one per header embedder")
    return [_decode(v, e.dim) for v, e in zip(vectors, header.embedders, strict=True)]


def parse_findings(records: list[Any], what: str = "record") -> list[Finding]:
    """Validate raw JSON values; every problem becomes one line of an `InvalidFindingError`."""
    findings: list[Finding] = []
    problems: list[str] = []
    seen: set[str] = set()
    for n, raw in enumerate(records, 1):
        if not isinstance(raw, dict):
            problems.append(f"{what} {n}: expected a JSON object, got {type(raw).__name__}")
            continue
        try:
            finding = Finding.model_validate(raw)
        except ValidationError as exc:
            problems.extend(f"{what} {n}: {error_where(e)}: {e['msg']}" for e in exc.errors())
            continue
        if finding.id in seen:
            problems.append(f"{what} {n}: id {finding.id} appears twice in the input")
        seen.add(finding.id)
        findings.append(finding)
    if problems:
        raise InvalidFindingError(problems)
    return findings


def parse_jsonl(lines: Iterable[str]) -> list[Finding]:
    """The findings of an export file (either format); a bad line is named by its number."""
    return read_export(lines).findings
