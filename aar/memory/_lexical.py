"""The lexical channel of search: BM25 over a finding's words (text, tags, tasks).

Why beside the embedders: a query that shares rare words with a finding ("GCE", "wine",
"dropout") should find it even when the embedders place it elsewhere; on the blind paraphrase
sets a small z-scored BM25 term added to the fused score raised recall@5 (bench_memory.py).

Each finding's terms are computed once, at write time, as hashed buckets with counts and stored
with its index row, so loading the index builds the postings with numpy alone (no tokenising
10,000 findings per process). A light suffix stemmer folds plurals and -ing/-ed forms;
collisions in 2**20 buckets are rare enough not to matter for ranking.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

K1, B = 1.2, 0.75  # the usual BM25 constants; not tuned here
_BUCKETS = 1 << 20
_WORD = re.compile(r"[a-z0-9]+")
_STOP_WORDS = (
    "a an the of to in on and or for with is are was were be been it its this that does do did "
    "how what which when why who i my we our you your me us than then there their as at by from "
    "into over under not no can could should would will if vs versus about any more most"
)
_STOP = frozenset(_STOP_WORDS.split(" "))
_SUFFIXES = (
    "ational", "ization", "ations", "ation", "ingly", "ively", "ness", "ments", "ment",
    "ities", "ity", "ings", "ing", "edly", "ied", "ies", "ers", "er", "ed", "ly", "es", "s",
)  # fmt: skip


def _stem(word: str) -> str:
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def terms(text: str) -> dict[int, int]:
    """Hashed stemmed words of `text` (stop words dropped) with their counts."""
    out: dict[int, int] = {}
    for word in _WORD.findall(text.lower().replace("_", " ")):
        if word not in _STOP:
            bucket = zlib.crc32(_stem(word).encode()) % _BUCKETS
            out[bucket] = out.get(bucket, 0) + 1
    return out


@dataclass
class Postings:
    """Every (term, row) pair sorted by term, with its BM25 weight (idf included)."""

    terms: np.ndarray  # sorted bucket ids
    rows: np.ndarray
    weights: np.ndarray

    @classmethod
    def build(cls, docs: list[list[list[int]]]) -> Postings:
        """`docs`: per row, [bucket, count] pairs as stored in the index."""
        import numpy as np

        lengths = np.array([len(d) for d in docs], dtype=np.int64)
        flat = np.array([p for d in docs for p in d], dtype=np.int64).reshape(-1, 2)
        rows = np.repeat(np.arange(len(docs)), lengths)
        bucket, tf = flat[:, 0], flat[:, 1].astype(np.float64)
        doc_len = np.bincount(rows, weights=tf, minlength=len(docs))
        norm = K1 * (1 - B + B * doc_len / max(float(doc_len.mean()) if len(docs) else 1.0, 1e-9))
        order = np.argsort(bucket, kind="stable")
        bucket, rows, tf = bucket[order], rows[order], tf[order]
        df = np.unique(bucket, return_counts=True)[1]
        idf = np.log(1 + (len(docs) - df + 0.5) / (df + 0.5))
        weights = np.repeat(idf, df) * tf * (K1 + 1) / (tf + norm[rows])
        return cls(terms=bucket, rows=rows, weights=weights)

    def scores(self, query: str, n: int) -> np.ndarray:
        """BM25 of every row for `query`, z-scored over the rows (all 0 when nothing matches)."""
        import numpy as np

        out = np.zeros(n, dtype=np.float64)
        for bucket in terms(query):
            lo, hi = np.searchsorted(self.terms, [bucket, bucket + 1])
            np.add.at(out, self.rows[lo:hi], self.weights[lo:hi])
        std = float(out.std())
        return (out - out.mean()) / std if std > 0 else np.zeros(n)
