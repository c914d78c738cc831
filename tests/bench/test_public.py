"""The public task directory: exact layout, and no ground truth in any file or encoding."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from aar.bench import OutputDirError, export_public, setup_seed
from aar.bench._protocol import PUBLIC_SPLITS
from aar.bench._runner import load_data

EXPECTED = {
    "manifest.json",
    "transfer_inputs.npy",
    "transfer_weak_labels.npy",
    "transfer_is_val.npy",
    "test_inputs.npy",
    "holdout_inputs.npy",
    "test_weak_labels.npy",
    *(
        f"{s}_{kind}"
        for s in ("transfer", "test", "holdout")
        for kind in ("ids.npy", "weak_inputs.npy", "texts.json")
    ),
}


def _encodings(y: np.ndarray, k: int) -> list[bytes]:
    """Every plausible byte encoding of a label vector (and its complement, and one-hot)."""
    variants = [y] + ([1 - y] if k == 2 else [])
    out = []
    for v in variants:
        for dt in (
            np.int8,
            np.uint8,
            np.int16,
            np.int32,
            np.int64,
            np.float16,
            np.float32,
            np.float64,
            bool,
        ):
            if dt is bool and k > 2:
                continue
            out.append(v.astype(dt).tobytes())
    for dt in (np.float32, np.float64, np.int64, np.uint8, bool):
        out.append(np.eye(k, dtype=dt)[y].tobytes())
        out.append(np.eye(k, dtype=dt)[y].T.copy().tobytes())
    return out


def _json_numbers(obj: object) -> list[np.ndarray]:
    if isinstance(obj, list) and obj and all(isinstance(v, int | float) for v in obj):
        return [np.asarray(obj)]
    if isinstance(obj, list):
        return [a for v in obj for a in _json_numbers(v)]
    if isinstance(obj, dict):
        return [a for v in obj.values() for a in _json_numbers(v)]
    return []


def _assert_no_labels(directory: Path, labels: dict[str, np.ndarray], k: int) -> None:
    """Scan every file: raw bytes for any encoding, and every array / JSON list by value."""
    for path in directory.iterdir():
        raw = path.read_bytes()
        for split, y in labels.items():
            for enc in _encodings(y, k):
                assert enc not in raw, f"{split} labels found in {path.name}"
        if path.suffix == ".npy":
            arrays = [np.load(path, allow_pickle=False)]
        else:
            arrays = _json_numbers(json.loads(path.read_text()))
        for arr in arrays:
            if arr.ndim == 0:
                continue
            flat = arr.reshape(len(arr), -1)
            for split, y in labels.items():
                if len(arr) != len(y):
                    continue
                for j in range(flat.shape[1]):
                    col = flat[:, j]
                    assert not np.array_equal(col.astype(np.int64), y), (split, path.name)
                    assert not (k == 2 and np.array_equal((col > 0.5).astype(int), y)), path.name
                if flat.shape[1] == k:
                    assert not np.array_equal(flat.argmax(1), y), (split, path.name)


@pytest.mark.parametrize("task_fixture", ["tiny", "tiny3"])
def test_public_dir_has_exact_layout_and_no_ground_truth(
    task_fixture: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    task = request.getfixturevalue(task_fixture)
    out = export_public(task, 43, tmp_path / "pub")
    assert {p.name for p in out.iterdir()} == EXPECTED
    setup = setup_seed(task, load_data(task), 43)
    k = task.n_classes
    labels = {s: setup.labels(s) for s in ("weak_train", "transfer", "test", "holdout")}
    # ... in the exported order too, the one an attacker would line up with the files
    labels |= {f"{s} (exported order)": setup.to_public(s, labels[s]) for s in PUBLIC_SPLITS}
    _assert_no_labels(out, labels, k)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["format_version"] == 1 and manifest["task"] == task.name
    assert manifest["seed"] == 43 and manifest["n_classes"] == k
    assert set(manifest["files"]) == EXPECTED
    assert manifest["split_sizes"]["test"] == len(np.load(out / "test_ids.npy"))
    assert "weak_train" not in manifest["split_sizes"]
    assert manifest["student"]["hidden"] == list(task.student.hidden)
    assert np.load(out / "transfer_weak_labels.npy").dtype == np.float32
    assert np.load(out / "transfer_weak_labels.npy").shape[1] == k
    assert np.load(out / "transfer_is_val.npy").dtype == bool


def test_export_refuses_a_non_empty_directory(tiny, tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    with pytest.raises(OutputDirError, match="not empty"):
        export_public(tiny, 42, tmp_path)
    assert (tmp_path / "keep.txt").read_text() == "mine"


def test_export_is_deterministic(tiny, tmp_path: Path) -> None:
    a = export_public(tiny, 42, tmp_path / "a")
    b = export_public(tiny, 42, tmp_path / "b")
    for name in ("test_ids.npy", "transfer_weak_labels.npy", "holdout_inputs.npy"):
        assert np.array_equal(np.load(a / name), np.load(b / name))


def test_the_label_scan_catches_planted_labels(tiny, tmp_path: Path) -> None:
    """The scan above is only worth something if it finds labels when they are there."""
    setup = setup_seed(tiny, load_data(tiny), 42)
    y = setup.labels("test")
    plants = {
        "a.npy": np.eye(2, dtype=np.float32)[y],
        "b.npy": y.astype(np.int16),
        "c.npy": np.stack([np.random.default_rng(0).random(len(y)), y], 1),
    }
    for name, arr in plants.items():
        d = tmp_path / name.split(".")[0]
        d.mkdir()
        np.save(d / name, arr)
        with pytest.raises(AssertionError):
            _assert_no_labels(d, {"test": y}, 2)
    d = tmp_path / "json"
    d.mkdir()
    (d / "t.json").write_text(json.dumps({"ids": [1, 2], "y": [int(v) for v in y]}))
    with pytest.raises(AssertionError):
        _assert_no_labels(d, {"test": y}, 2)
