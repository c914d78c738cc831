"""Submissions: reading prediction files and checking them against a split, strictly.

A submission that cannot be scored exactly as its author meant is refused with one line:
a CSV header must be `id,prob` (binary) or `id,p0,...,p<k-1>`, a JSON file exactly
`{"ids": [...], "probs": [...]}` with one probability row per id, and nothing is silently
dropped, reordered by position, or read as another class. `read_submission` needs only the
file (so the CLI checks it before loading a task); `load_predictions` aligns it with a split.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from aar.bench._errors import InvalidPredictionsError
from aar.errors import PathError, closest_key
from aar.files import check_names

PREDICTION_FORMAT = {
    "align_with": "<split>_ids.npy (test_ids.npy for split 'test')",
    "binary": "float array [n] (or [n, 1]) of P(class=1), or [n, 2] rows summing to 1",
    "multiclass": "float array [n, n_classes], rows summing to 1",
    "files": {
        ".npy": "the array above, in id order",
        ".csv": "header exactly id,prob (binary: P(class=1)) or id,p0,...,p<k-1> (k >= 2); "
        "one row per id, any order",
        ".json": '{"ids": [...], "probs": [...]} (no other keys), one probs entry per id',
    },
    "range": "every probability finite and in [0, 1]",
}
MAX_FILE_BYTES = 256 * 2**20
"""Far above any split's predictions; a bigger file is a mistake, not a submission."""
MAX_LABEL_CHARS = 200
_INT = re.compile(r"[+-]?[0-9]{1,19}")
_FLOAT = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?|[+-]?(nan|inf|infinity)")


@dataclass(frozen=True)
class Submission:
    """Predictions read from a file: probabilities, and the row ids for CSV and JSON."""

    probs: np.ndarray
    ids: np.ndarray | None
    name: str


def _bad(msg: str) -> InvalidPredictionsError:
    one_line = msg.replace("\r", " ").replace("\n", " ")
    return InvalidPredictionsError(f"invalid predictions: {one_line}")


def check_label(value: object, what: str = "method") -> str:
    """A name recorded with every evaluation: 1-200 printable characters, not only spaces."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidPredictionsError(f"{what} must be a non-empty name, got {value!r}")
    if len(value) > MAX_LABEL_CHARS or not value.isprintable():
        raise InvalidPredictionsError(
            f"{what} must be at most {MAX_LABEL_CHARS} printable characters, got {value[:40]!r}"
        )
    return value


# ---------------------------------------------------------------- files


def read_submission(path: str | os.PathLike[str]) -> Submission:
    """Read a .npy, .csv or .json predictions file and check what the file alone can tell."""
    path = Path(path)
    try:
        check_names(path, "predictions file")
    except PathError as exc:
        raise _bad(str(exc)) from None
    if not path.exists():
        raise _bad(f"file {path} does not exist")
    if not path.is_file():
        raise _bad(f"{path} is not a regular file")
    if path.stat().st_size > MAX_FILE_BYTES:
        raise _bad(f"{path.name} is larger than {MAX_FILE_BYTES >> 20} MiB")
    readers = {".npy": _read_npy, ".csv": _read_csv, ".json": _read_json}
    reader = readers.get(path.suffix.lower())
    if reader is None:
        raise _bad(f"{path.name}: use a .npy, .csv or .json file")
    sub = reader(path)
    _check_dtype(sub.probs)
    if sub.ids is not None and (sub.probs.ndim == 0 or len(sub.probs) != len(sub.ids)):
        rows = 0 if sub.probs.ndim == 0 else len(sub.probs)
        raise _bad(f"{sub.name}: {rows} probability rows for {len(sub.ids)} ids; one per id")
    return sub


def _read_npy(path: Path) -> Submission:
    with path.open("rb") as fh:
        magic = fh.read(6)
    if magic.startswith(b"PK"):
        raise _bad(f"{path.name} is an .npz archive; save one array with np.save")
    if len(magic) < 6:
        raise _bad(f"{path.name} is empty or truncated; save the array with np.save")
    if magic != b"\x93NUMPY":
        raise _bad(f"{path.name} is not a .npy file (no .npy header); save with np.save")
    _check_npy_size(path)
    try:
        with path.open("rb") as fh:
            arr = np.load(fh, allow_pickle=False)
    except EOFError:
        raise _bad(f"{path.name} is empty or truncated; save the array with np.save") from None
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise _bad(f"cannot read {path.name} as a .npy array: {exc}") from None
    return Submission(arr, None, path.name)


def _check_npy_size(path: Path) -> None:
    """The header's shape must match the bytes that follow: numpy would first allocate what
    the header promises (a 12-byte lie asks for terabytes)."""
    from numpy.lib import format as npy

    try:
        with path.open("rb") as fh:
            version = npy.read_magic(fh)
            read_header = npy.read_array_header_1_0 if version == (1, 0) else None
            read_header = npy.read_array_header_2_0 if version == (2, 0) else read_header
            if read_header is None:
                return  # a newer format: np.load decides
            shape, _, dtype = read_header(fh)
            data_bytes = path.stat().st_size - fh.tell()
    except (ValueError, OSError, EOFError) as exc:
        raise _bad(f"cannot read {path.name} as a .npy array: {exc}") from None
    if dtype.hasobject:
        raise _bad(f"{path.name} holds Python objects; save float probabilities")
    promised = int(np.prod(shape, dtype=object)) * dtype.itemsize
    if promised != data_bytes:
        raise _bad(
            f"{path.name} is truncated or damaged: its header promises {promised} bytes of "
            f"data for shape {list(shape)}, the file holds {data_bytes}"
        )


def _text(path: Path) -> str:
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _bad(f"{path.name} is not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise _bad(f"cannot read {path.name}: {exc.strerror}") from None
    if "\0" in text:
        raise _bad(f"{path.name} holds NUL bytes: it is not a text file")
    return text


def _read_csv(path: Path) -> Submission:
    reader = csv.reader(io.StringIO(_text(path), newline=""))
    try:
        rows = [(reader.line_num, row) for row in reader if any(c.strip() for c in row)]
    except csv.Error as exc:
        raise _bad(f"{path.name} is not valid CSV: {exc}") from None
    if not rows:
        raise _bad(f"{path.name} is empty; the header is 'id,prob' or 'id,p0,...,p<k-1>'")
    header = [c.strip() for c in rows[0][1]]  # case-sensitive: 'ID,Prob' is not the format
    binary = _check_header(header, path.name)
    ids, probs = [], []
    for line, row in rows[1:]:
        if len(row) != len(header):
            raise _bad(f"{path.name} line {line}: {len(row)} columns, the header has {len(header)}")
        ids.append(_int(row[0], f"{path.name} line {line}"))
        probs.append([_float(v, f"{path.name} line {line}") for v in row[1:]])
    arr = np.array(probs, dtype=np.float64).reshape(len(probs), len(header) - 1)
    return Submission(arr[:, 0] if binary else arr, np.array(ids, dtype=np.int64), path.name)


def _check_header(header: list[str], name: str) -> bool:
    """True for `id,prob` (binary P(class 1)); False for `id,p0,...,p<k-1>`; else refused."""
    if header == ["id", "prob"]:
        return True
    wanted = ["id", *(f"p{i}" for i in range(len(header) - 1))]
    if header == ["id", "p0"]:
        raise _bad(
            f"{name}: the header 'id,p0' is ambiguous; write 'id,prob' for P(class 1) or "
            "'id,p0,p1' for both classes"
        )
    if header == wanted and len(header) >= 3:
        return False
    lower = [h.lower() for h in header]
    if lower != header and (lower in (["id", "prob"], ["id", "p0"]) or lower == wanted):
        raise _bad(
            f"{name}: the header is case-sensitive; write {','.join(lower)!r}, got "
            f"{','.join(header)!r}"
        )
    typo = next((h for h, w in zip(header, wanted, strict=False) if h != w), "")
    guess = closest_key(typo, ["id", "prob", *wanted[1:]]) if typo else None
    hint = f" ({typo!r}: did you mean {guess!r}?)" if guess and guess != typo else ""
    raise _bad(
        f"{name}: the header must be 'id,prob' or 'id,p0,...,p<k-1>', got "
        f"{','.join(header)!r}{hint}"
    )


def _int(cell: object, where: str) -> int:
    text = cell.strip() if isinstance(cell, str) else None
    if isinstance(cell, int) and not isinstance(cell, bool):
        value = cell
    elif text is not None and _INT.fullmatch(text):
        value = int(text)
    else:
        raise _bad(f"{where}: id {cell!r} is not an integer (ids come from <split>_ids.npy)")
    if not -(2**63) <= value < 2**63:
        raise _bad(f"{where}: id {value} is out of range (ids come from <split>_ids.npy)")
    return value


def _float(cell: str, where: str) -> float:
    if not _FLOAT.fullmatch(cell.strip().lower()):
        raise _bad(f"{where}: {cell[:30]!r} is not a number")
    return float(cell)


class _DuplicateKeyError(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    for key in keys:
        if keys.count(key) > 1:
            raise _DuplicateKeyError(key)
    return dict(pairs)


def _read_json(path: Path) -> Submission:
    try:
        obj = json.loads(_text(path), object_pairs_hook=_no_duplicates)
    except _DuplicateKeyError as exc:
        raise _bad(f"{path.name}: the key {exc.args[0]!r} appears twice") from None
    except json.JSONDecodeError as exc:
        raise _bad(f"{path.name} is not valid JSON: {exc.msg} (line {exc.lineno})") from None
    except RecursionError:
        raise _bad(f"{path.name} is nested too deeply to be predictions") from None
    if not isinstance(obj, dict) or set(obj) != {"ids", "probs"}:
        got = sorted(obj) if isinstance(obj, dict) else type(obj).__name__
        raise _bad(f'{path.name}: expected exactly {{"ids": [...], "probs": [...]}}, got {got}')
    ids, probs = obj["ids"], obj["probs"]
    for key, value in (("ids", ids), ("probs", probs)):
        if not isinstance(value, list):
            raise _bad(f"{path.name}: {key!r} must be a list, got {_json_type(value)}")
    parsed = np.array([_int(v, f"{path.name} ids[{i}]") for i, v in enumerate(ids)], np.int64)
    return Submission(_json_probs(probs, path.name), parsed, path.name)


def _json_probs(probs: list[Any], name: str) -> np.ndarray:
    """A list of numbers, or of equal-length lists of numbers (never booleans or strings)."""
    rows = probs if probs and all(isinstance(r, list) for r in probs) else None
    leaves = [x for r in rows for x in r] if rows is not None else probs
    if rows is not None and len({len(r) for r in rows}) > 1:
        raise _bad(f"{name}: every row of 'probs' needs the same number of entries")
    for i, x in enumerate(leaves):
        if isinstance(x, bool) or not isinstance(x, int | float):
            raise _bad(f"{name}: 'probs' entry {i} is {_json_type(x)}, not a number")
    try:
        return np.array(probs, dtype=np.float64)
    except OverflowError:
        raise _bad(f"{name}: a 'probs' entry is too large for a float") from None


def _json_type(value: object) -> str:
    names = {type(None): "null", bool: "a boolean", str: "a string", dict: "an object"}
    return names.get(type(value), "a list" if isinstance(value, list) else repr(value)[:30])


# ---------------------------------------------------------------- against a split


def _check_dtype(probs: np.ndarray) -> None:
    if probs.dtype == bool or not (
        np.issubdtype(probs.dtype, np.floating) or np.issubdtype(probs.dtype, np.integer)
    ):
        raise _bad(f"dtype {probs.dtype} is not a real number type; use float probabilities")


def _as_array(predictions: object) -> np.ndarray:
    if isinstance(predictions, np.ndarray):
        return predictions
    try:
        return np.asarray(predictions)
    except (TypeError, ValueError, OverflowError):
        raise _bad("predictions must be an array of probabilities") from None


def _align(sub: Submission, ids: np.ndarray) -> np.ndarray:
    """The rows of a file submission in the split's id order (every id exactly once)."""
    assert sub.ids is not None  # only .csv and .json submissions carry ids
    n, distinct = len(ids), len(np.unique(sub.ids))
    if len(sub.ids) != n or distinct != len(sub.ids):
        raise _bad(f"expected {n} distinct ids, got {len(sub.ids)} ({distinct} distinct)")
    position = {int(v): i for i, v in enumerate(sub.ids)}
    missing = [int(v) for v in ids if int(v) not in position]
    if missing:
        raise _bad(
            f"{len(missing)} ids of the split are missing (e.g. {missing[0]}); "
            "ids must match <split>_ids.npy"
        )
    return sub.probs[[position[int(v)] for v in ids]]


def load_predictions(
    predictions: Submission | np.ndarray | str | os.PathLike[str],
    ids: np.ndarray,
    n_classes: int,
) -> np.ndarray:
    """Validate a submission and return probabilities [n, n_classes] aligned with `ids`.

    Raises `InvalidPredictionsError` (one line) for anything it cannot score.
    """
    if isinstance(predictions, str | os.PathLike):
        predictions = read_submission(predictions)
    if isinstance(predictions, Submission):
        probs = predictions.probs if predictions.ids is None else _align(predictions, ids)
    else:
        probs = _as_array(predictions)
    _check_dtype(probs)
    probs = probs.astype(np.float64)
    n = len(ids)
    if probs.ndim == 2 and n_classes == 2 and probs.shape[1] == 1:
        probs = probs[:, 0]
    if probs.ndim == 1 and n_classes == 2:
        shape_ok = len(probs) == n
    else:
        shape_ok = probs.ndim == 2 and probs.shape == (n, n_classes)
    if not shape_ok:
        want = f"[{n}] or [{n}, 2]" if n_classes == 2 else f"[{n}, {n_classes}]"
        raise _bad(f"shape {list(probs.shape)} does not match the split; expected {want}")
    return _check_values(probs)


def _check_values(probs: np.ndarray) -> np.ndarray:
    """Finite, in [0, 1], rows summing to 1; binary [n] becomes [n, 2]."""
    if not np.isfinite(probs).all():
        raise _bad("NaN or infinite values")
    if probs.min() < 0 or probs.max() > 1:
        raise _bad(f"values outside [0, 1] (min {probs.min():.4g}, max {probs.max():.4g})")
    if probs.ndim == 2:
        sums = probs.sum(axis=1)
        if not np.allclose(sums, 1.0, atol=1e-3):
            worst = float(sums[np.argmax(np.abs(sums - 1))])
            raise _bad(f"rows must sum to 1 (one sums to {worst:.4g})")
        return probs
    return np.stack([1 - probs, probs], axis=1)


def predictions_sha256(probs: np.ndarray) -> str:
    """The `predictions_sha256` of validated probabilities: the one hash a record, the
    scorer's ledger and a session's repeat check all compare."""
    return hashlib.sha256(np.ascontiguousarray(probs).tobytes()).hexdigest()
