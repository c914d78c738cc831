"""Train every entry point of the kernel libraries found in one folder; save the predictions.

Run as a subprocess (`python library_probe.py KERNEL_DIR EXPORTS OUT`), one per library
version, so an archived `aar_methods` / `aar_recipes` and the current ones never share a
process (their module names are the same). It uses only what every version has:
`SeedData.from_public`, `train` and `train_config`, each seed alone and the seeds stacked on
one pool (what `train_public_seeds` builds). EXPORTS holds `<task>/seed-<seed>/` exports.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

KERNEL, EXPORTS, OUT = (Path(a) for a in sys.argv[1:4])
sys.path.insert(0, str(KERNEL))
import aar_methods as lib  # noqa: E402
import aar_recipes as rec  # noqa: E402

PARAMS = {  # each family at its FAMILY_CONFIGS parameters
    "naive": {},
    "logconf": {"aux_coef": 0.5},
    "bootstrap": {"stages": 2},
    "early_stopping": {"patience": 2},
    "confidence_filter": {"keep_fraction": 0.5},
    "cotrain": {"agreement_weight": 0.5},
    "label_smoothing": {"epsilon": 0.1},
    "temperature": {"temperature": 0.5},
    "control_random_flip": {"flip_scale": 1.0},
    "control_hard_labels": {},
}
RUNS = [(m, p, False) for m, p in PARAMS.items()] + [
    ("logconf", {"aux_coef": 0.75}, False),
    ("logconf", {"aux_coef": 0.5}, True),  # the bench's `+es`
    ("bootstrap", {"stages": 2}, True),
]
EXTRA_CONFIGS = {  # components no family combines
    "logconf-0.75+es": {"loss": {"aux_coef": 0.75}, "training": {"early_stopping": True}},
    "mix": {
        "labels": {"kind": "balanced_hard", "temperature": 2.0, "smoothing": 0.05},
        "selection": {"keep_fraction": 0.8, "weighting": "confidence"},
        "training": {"self_training_rounds": 1, "self_training_labels": "soft"},
        "ensemble": {"members": 2, "bagging": True},
    },
}


def seeds_of(task: Path) -> list:
    """The seeds' `SeedData`, alone (own pools) and stacked (one pool, rows offset)."""
    files = {}
    for folder in sorted(task.glob("seed-*")):
        f: dict = {p.stem: np.load(p, allow_pickle=False) for p in folder.glob("*.npy")}
        f["manifest"] = json.loads((folder / "manifest.json").read_text())
        files[int(folder.name.removeprefix("seed-"))] = f

    def build(stacked: bool) -> list:
        data = [lib.SeedData.from_public(f, s) for s, f in files.items()]
        if stacked:
            pool, offset = np.concatenate([d.x for d in data]), 0
            for d in data:
                d.rows, offset = {n: r + offset for n, r in d.rows.items()}, offset + len(d.x)
                d.x = pool
        return data

    return [build(False), build(True)]


def main() -> None:
    assert Path(lib.__file__).parent.parent == KERNEL.resolve(), lib.__file__
    assert Path(rec.__file__).parent.parent == KERNEL.resolve(), rec.__file__
    out: dict[str, np.ndarray] = {}
    configs = {n: c.model_dump() for n, c in rec.FAMILY_CONFIGS.items()} | EXTRA_CONFIGS
    for task in sorted(p for p in EXPORTS.iterdir() if p.is_dir()):
        for batch, data in zip((False, True), seeds_of(task), strict=True):
            where = f"{task.name}/batch={batch}"
            for method, params, es in RUNS:
                got = lib.train(method, data, params, early_stopping=es, batch=batch)
                save(out, f"{where}/methods/{method}{params}es={es}", data, got)
            for name, config in configs.items():
                checked = rec.MethodConfig.model_validate(config)
                got = rec.train_config(checked, data, batch=batch)
                save(out, f"{where}/recipes/{name}", data, got)
    np.savez(OUT, **out)
    print(json.dumps({"methods": lib.LIBRARY_SHA256, "recipes": rec.LIBRARY_SHA256}))


def save(out: dict, key: str, data: list, outcomes: list) -> None:
    for d, o in zip(data, outcomes, strict=True):
        for split in lib.SPLITS:
            out[f"{key}/seed={d.seed}/{split}"] = o.probs[split]


if __name__ == "__main__":
    main()
