"""The built-in weak-to-strong tasks; importing this package registers them.

| name | data | weak supervisor | strong model |
|---|---|---|---|
| `digits-ge5` | sklearn digits, digit >= 5 | depth-3 tree, raw pixels | MLP, raw pixels |
| `digits-10` | sklearn digits, 10 classes | depth-4 tree, 4x4 pooled pixels | MLP, raw pixels |
| `breast-cancer` | sklearn breast_cancer | 15-NN, 10 'error' features | MLP, 30 features |
| `rt-sentiment` | Rotten Tomatoes snippets | LR, hashed words | probe, MiniLM embeddings |
| `synthetic-gap-{small,medium,large}` | generated | LR, noisy latent | MLP, mixed latent |
"""

from aar.bench.tasks._base import CachedTask, TaskDataError
from aar.bench.tasks._digits import DigitsHighLowTask, DigitsTenTask
from aar.bench.tasks._synthetic import SyntheticTask, make_synthetic_task
from aar.bench.tasks._tabular import BreastCancerTask
from aar.bench.tasks._text import RottenTomatoesTask, embed_texts, hashed_unigrams

__all__ = [
    "BreastCancerTask",
    "CachedTask",
    "DigitsHighLowTask",
    "DigitsTenTask",
    "RottenTomatoesTask",
    "SyntheticTask",
    "TaskDataError",
    "embed_texts",
    "hashed_unigrams",
    "make_synthetic_task",
]
