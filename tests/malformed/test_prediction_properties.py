"""Generated prediction files: the reader either returns exactly what the file says or
refuses it with one `InvalidPredictionsError` line. Never another exception, never a silent
guess (a result is always finite, in [0, 1], one row per split id, rows summing to 1)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from aar.bench import InvalidPredictionsError, load_predictions

IDS = np.array([101, 205, 307, 409])

_CELLS = st.one_of(
    st.sampled_from([str(i) for i in IDS]),
    st.sampled_from(["0", "1", "0.5", "0.25", "1e-3", "nan", "inf", "-0.1", "1.5", "", " ", "x",
                     "0_5", "1,5", "½", "True", "\x00"]),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-(2**70), 2**70).map(str),
)  # fmt: skip
_HEADERS = st.sampled_from(
    ["id,prob", "id,porb", "id,p0", "id,p0,p1", "id,p1,p0", "ID,Prob", "prob,id", "id", ""]
)


def _check(path: Path, n_classes: int = 2) -> None:
    try:
        probs = load_predictions(path, IDS, n_classes)
    except InvalidPredictionsError as exc:
        assert "\n" not in str(exc) and str(exc).startswith("invalid predictions: ")
        return
    assert probs.shape == (len(IDS), n_classes)
    assert np.isfinite(probs).all() and probs.min() >= 0 and probs.max() <= 1
    assert np.allclose(probs.sum(axis=1), 1, atol=1e-3)


@given(header=_HEADERS, rows=st.lists(st.lists(_CELLS, min_size=1, max_size=4), max_size=6))
def test_generated_csv(tmp_path_factory: pytest.TempPathFactory, header: str, rows: list) -> None:
    path = tmp_path_factory.mktemp("p") / "p.csv"
    path.write_text(header + "\n" + "\n".join(",".join(r) for r in rows))
    _check(path)


def test_a_csv_column_of_p0_is_never_read_as_class_1(tmp_path: Path) -> None:
    """The issue's case: 'id,p0' meaning P(class 0) once scored acc 0.14. Now it is refused,
    and 'id,p0,p1' is read column by column."""
    path = tmp_path / "p.csv"
    path.write_text("id,p0\n" + "".join(f"{i},0.9\n" for i in IDS))
    with pytest.raises(InvalidPredictionsError, match="ambiguous"):
        load_predictions(path, IDS, 2)
    path.write_text("id,p0,p1\n" + "".join(f"{i},0.9,0.1\n" for i in IDS[::-1]))
    assert (load_predictions(path, IDS, 2)[:, 0] == 0.9).all()


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=20,
)
_PROBS = st.one_of(
    _JSON,
    st.lists(st.floats(0, 1), min_size=3, max_size=5),
    st.lists(st.lists(st.floats(0, 1), min_size=2, max_size=2), min_size=4, max_size=4),
)
_ID_LISTS = st.one_of(_JSON, st.permutations(IDS.tolist()), st.lists(st.sampled_from(IDS.tolist())))


@given(ids=_ID_LISTS, probs=_PROBS, extra=st.dictionaries(st.sampled_from(["x", "ids"]), _JSON))
def test_generated_json(
    tmp_path_factory: pytest.TempPathFactory, ids: object, probs: object, extra: dict
) -> None:
    path = tmp_path_factory.mktemp("p") / "p.json"
    path.write_text(json.dumps({"ids": ids, "probs": probs, **extra}))
    _check(path)


@given(raw=st.binary(max_size=200))
@pytest.mark.parametrize("suffix", [".npy", ".csv", ".json"])
def test_arbitrary_bytes(tmp_path_factory: pytest.TempPathFactory, suffix: str, raw: bytes) -> None:
    path = tmp_path_factory.mktemp("p") / f"p{suffix}"
    path.write_bytes(raw)
    _check(path)
    _check(path, n_classes=3)


@given(
    shape=st.sampled_from([(), (4,), (3,), (4, 1), (4, 2), (4, 3), (2, 2), (4, 2, 1)]),
    dtype=st.sampled_from(["f2", "f4", "f8", "i1", "u8", "?", "c8", "U2", "O"]),
    fill=st.floats(allow_nan=True, allow_infinity=True, width=16),
)
def test_generated_arrays(
    tmp_path_factory: pytest.TempPathFactory, shape: tuple, dtype: str, fill: float
) -> None:
    path = tmp_path_factory.mktemp("p") / "p.npy"
    try:
        with np.errstate(invalid="ignore"):  # NaN or inf cast to an integer type: any value
            arr = np.full(shape, fill).astype(dtype)
    except (ValueError, OverflowError):
        return
    np.save(path, arr, allow_pickle=True)
    _check(path)
