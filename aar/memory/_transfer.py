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
import contextlib
import gc
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any, Final, Literal

import pydantic_core
from pydantic import BaseModel, Field, ValidationError

from aar.errors import validation_message
from aar.memory._errors import InvalidFindingError
from aar.memory._finding import SCHEMA_VERSION, Finding
from aar.memory._records import finding_problems, printable

if TYPE_CHECKING:
    import numpy as np

    from aar.memory._embed import Embedder

EXPORT_FORMAT: Final = 2
_MAX_PROBLEMS = 20


class EmbedderInfo(BaseModel):
    name: str
    dim: int = Field(gt=0, le=65536)


class ExportHeader(BaseModel):
    aar_memory_export: Literal[2] = EXPORT_FORMAT
    schema_version: int = SCHEMA_VERSION
    count: int
    embedders: list[EmbedderInfo]
    vector_encoding: Literal["float32-le-base64"] = "float32-le-base64"
    glossary: str | None = None


@dataclass
class ParsedExport:
    """Validated findings and, per embedder name, their vectors: a matrix with a row per finding
    (no entry: the file had none)."""

    findings: list[Finding]
    vectors: dict[str, np.ndarray] = field(default_factory=dict)
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


def _decode(text: Any, dim: int) -> bytes:
    """The raw float32 bytes of one vector of `dim` values, or ValueError saying what is wrong
    (the values themselves are checked for the whole file at once, in `_check_values`)."""
    if not isinstance(text, str):
        raise ValueError("a vector must be a base64 string")
    try:
        raw = binascii.a2b_base64(text, strict_mode=True)
    except (binascii.Error, ValueError):
        raise ValueError("a vector is not valid base64") from None
    if len(raw) != 4 * dim:
        raise ValueError(f"a vector has {len(raw) // 4} values, the header says {dim}")
    return raw


def _check_values(raw: list[bytes], dim: int, line_numbers: list[int]) -> tuple[Any, list[str]]:
    """One embedder's vectors as a matrix, and a problem for each row that is not a finite unit
    vector (checked in one numpy pass: a tenth of the time of a check per vector)."""
    import numpy as np

    matrix = np.frombuffer(b"".join(raw), dtype="<f4").reshape(len(raw), dim)
    finite = np.isfinite(matrix).all(axis=1)
    with np.errstate(invalid="ignore", over="ignore"):
        unit = np.abs(np.einsum("ij,ij->i", matrix, matrix) - 1.0) <= 1e-3
    problems = [
        f"line {line_numbers[i]}: a vector "
        + ("is not unit-length (not written by aar)" if finite[i] else "holds NaN or infinity")
        for i in np.flatnonzero(~(finite & unit))[:_MAX_PROBLEMS]
    ]
    return matrix, problems


def read_export(lines: Iterable[str]) -> ParsedExport:
    """Parse format 2 or plain JSON-lines findings; every problem is one line of one error."""
    numbered = ((n, line) for n, line in enumerate(lines, 1) if line.strip())
    first = next(numbered, None)
    if first is None:
        return ParsedExport(findings=[])
    reading = _Reading()
    header = reading.header = _header(first[1], reading.problems)
    if header is not None:
        reading.raw_vectors = [[] for _ in header.embedders]
    rest = list(numbered) if header is not None else [first, *numbered]
    with gc_paused():
        for n, line in rest:
            if len(reading.problems) >= _MAX_PROBLEMS:
                reading.more = True
                break
            reading.line(n, line)
        return reading.result()


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector over a bulk read or write: the tens of thousands of
    new (acyclic) objects set off full collections that cost ~0.15 s of a 10,000-finding
    import."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@dataclass
class _Reading:
    """What `read_export` has gathered so far: findings, raw vector bytes, problems."""

    header: ExportHeader | None = None
    findings: list[Finding] = field(default_factory=list)
    raw_vectors: list[list[bytes]] = field(default_factory=list)  # per header embedder
    line_numbers: list[int] = field(default_factory=list)  # of each finding
    families: list[list[str]] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)
    more: bool = False  # stopped early: more problems than listed

    def line(self, n: int, line: str) -> None:
        try:
            data = pydantic_core.from_json(line)  # Rust: ~40% faster than json.loads here
        except ValueError as exc:
            self.problems.append(f"line {n}: not JSON ({exc})")
            return
        raw, vectors = data, None
        if self.header is not None:
            if not isinstance(data, dict) or not {"finding", "vectors"} <= data.keys():
                self.problems.append(f"line {n}: expected an object with 'finding' and 'vectors'")
                return
            raw, vectors = data["finding"], data["vectors"]
        finding = self._finding(n, raw)
        if finding is None:
            return
        if self.header is not None and not self._vectors(n, vectors, data.get("families")):
            return
        self.seen.add(finding.id)
        self.findings.append(finding)
        self.line_numbers.append(n)

    def _finding(self, n: int, raw: Any) -> Finding | None:
        if not isinstance(raw, dict):
            self.problems.append(f"line {n}: expected a JSON object, got {type(raw).__name__}")
            return None
        try:
            finding = Finding.model_validate(raw)
        except ValidationError as exc:
            self.problems.extend(f"line {n}: {p}" for p in finding_problems(exc))
            return None
        if finding.id in self.seen:
            self.problems.append(f"line {n}: id {finding.id} appears twice in the file")
            return None
        return finding

    def _vectors(self, n: int, vectors: Any, families: Any) -> bool:
        assert self.header is not None
        embedders = self.header.embedders
        try:
            if not isinstance(vectors, list) or len(vectors) != len(embedders):
                raise ValueError(f"expected {len(embedders)} vector(s), one per header embedder")
            decoded = [_decode(v, e.dim) for v, e in zip(vectors, embedders, strict=True)]
        except ValueError as exc:
            self.problems.append(f"line {n}: {exc}")
            return False
        for into, raw in zip(self.raw_vectors, decoded, strict=True):
            into.append(raw)
        if isinstance(families, list) and all(isinstance(f, str) for f in families):
            self.families.append(families)
        return True

    def result(self) -> ParsedExport:
        parsed = ParsedExport(findings=self.findings, header=self.header)
        if self.header is not None:
            for info, raw in zip(self.header.embedders, self.raw_vectors, strict=True):
                matrix, bad = _check_values(raw, info.dim, self.line_numbers)
                parsed.vectors[info.name] = matrix
                self.problems.extend(bad)
        if len(self.families) == len(self.findings):
            parsed.families = self.families  # else some line had none: tag them all again
        header, problems = self.header, self.problems
        if header is not None and not problems and header.count != len(self.findings):
            problems.append(
                f"the file is truncated or padded: its header says {header.count} findings, "
                f"it holds {len(self.findings)}"
            )
        if problems:
            listed = sorted(problems, key=_line_of)
            more = self.more or len(listed) > _MAX_PROBLEMS
            raise InvalidFindingError(
                listed[:_MAX_PROBLEMS] + (["... (more problems not listed)"] if more else [])
            )
        return parsed


def _line_of(problem: str) -> int:
    """Sort key: the line a problem names (value checks come after the per-line pass)."""
    head = problem.split(":", 1)[0]
    return int(head[5:]) if head.startswith("line ") and head[5:].isdigit() else 1 << 62


def _header(line: str, problems: list[str]) -> ExportHeader | None:
    try:
        data = json.loads(line)
    except (json.JSONDecodeError, RecursionError):
        return None  # reported as line 1 by the plain-findings path
    if not isinstance(data, dict) or "aar_memory_export" not in data:
        return None
    try:
        return ExportHeader.model_validate(data)
    except ValidationError as exc:
        problems.append(
            f"line 1: not an export header aar can read ({printable(validation_message(exc))})"
        )
        return ExportHeader(count=0, embedders=[])


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
            problems.extend(f"{what} {n}: {p}" for p in finding_problems(exc))
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
