"""The text task's embeddings load without a progress bar (issue 22: `aar bench list` printed
transformers' "Loading weights" bar into the terminal on a cold cache)."""

import pytest

from aar.bench.tasks._text import embed_texts


def test_embed_texts_prints_no_loading_bar(capfd: pytest.CaptureFixture[str]) -> None:
    vectors = embed_texts(["a warm, funny film", "a dull, overlong film"])
    out, err = capfd.readouterr()
    assert vectors.shape == (2, 384)
    assert "Loading weights" not in out + err
    assert "it/s" not in out + err
