"""The offline embedders: real vectors from the shipped MiniLM weights, no network."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from memory_support import labelled_findings, labelled_queries, local_settings, minimal

from aar.config import get_settings
from aar.memory import (
    MINILM_MODEL_NAME,
    STATIC_MODEL_NAME,
    EmbedderError,
    EmbeddingMismatchError,
    Finding,
    load_embedder,
    open_store,
)


def test_minilm_vectors(embedder) -> None:
    real = embedder.inner
    assert (real.name, real.dim) == (MINILM_MODEL_NAME, 384)
    texts = [
        "the confidence loss helped the student on movie reviews",
        "an auxiliary confidence loss improved sentiment results",
        "the weather in the mountains was cold",
    ]
    vecs = real.embed(texts)
    assert vecs.shape == (3, 384) and vecs.dtype == np.float32
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1, atol=1e-4)
    assert vecs[0] @ vecs[1] > 0.4 > 0.1 > vecs[0] @ vecs[2]
    # a text alone and inside a padded batch of longer texts embeds (almost) the same
    alone = real.embed([texts[2]])[0]
    batched = real.embed([texts[2], " ".join(texts * 5)])[0]
    assert float(alone @ batched) > 0.99
    assert np.array_equal(real.embed(texts), real.embed(texts))


def test_unknown_embedding_kind() -> None:
    with pytest.raises(EmbedderError, match="minilm, static"):
        load_embedder("word2vec", Path("/nonexistent"))


@pytest.mark.slow
def test_static_embedder_and_switching_models(tmp_path: Path) -> None:
    """The static option works end to end; a store keeps the model it was built with."""
    static = load_embedder("static", get_settings().memory.cache_dir)
    assert (static.name, static.dim) == (STATIC_MODEL_NAME, 384)
    store = open_store(local_settings(tmp_path / "s", embedding="static"))
    store.add_many(labelled_findings())
    queries = labelled_queries()
    r5 = sum(
        len({h.finding.id for h in store.search(q["query"], k=5)} & set(q["relevant"]))
        / len(q["relevant"])
        for q in queries
    ) / len(queries)
    print(f"static recall@5={r5:.3f}")
    assert r5 >= 0.75
    with pytest.raises(EmbeddingMismatchError, match=r"set memory\.embedding = 'static'"):
        open_store(local_settings(tmp_path / "s"))  # default: minilm
    minilm_store = open_store(local_settings(tmp_path / "m"))
    minilm_store.add(Finding.model_validate(minimal()))
    with pytest.raises(EmbeddingMismatchError, match=MINILM_MODEL_NAME):
        open_store(local_settings(tmp_path / "m", embedding="static"))


@pytest.mark.slow
def test_minilm_builds_offline_and_rebuilds_damaged(tmp_path: Path, embedder) -> None:
    """First use exports and quantises the shipped weights (the network guard is on);
    a damaged file is rebuilt."""
    from aar.memory._embed import load_minilm_embedder, minilm_onnx_path

    fresh = load_minilm_embedder(tmp_path / "cache")
    assert minilm_onnx_path(tmp_path / "cache").is_file()
    text = ["weak-to-strong generalisation with an auxiliary confidence loss"]
    assert float(fresh.embed(text)[0] @ embedder.inner.embed(text)[0]) > 0.999
    # a damaged artefact is rebuilt, not trusted
    minilm_onnx_path(tmp_path / "cache").write_bytes(b"not an onnx model")
    rebuilt = load_minilm_embedder(tmp_path / "cache")
    assert float(rebuilt.embed(text)[0] @ fresh.embed(text)[0]) > 0.999
    # onnxruntime's optimised graph is cached; a damaged copy is replaced, same vectors
    (optimised,) = (tmp_path / "cache").glob("*.opt-*.onnx")
    optimised.write_bytes(b"garbage")
    again = load_minilm_embedder(tmp_path / "cache")
    assert np.array_equal(again.embed(text), rebuilt.embed(text))
    assert optimised.stat().st_size > 1000
