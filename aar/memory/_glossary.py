"""aar's glossary of W2S method families (`glossary.toml`): what makes search survive paraphrase.

A finding is tagged with the families whose technical terms it uses (regular expressions over
its text); a query is compared, by embedding, with each family's plain-language description.
The search index adds a bonus to findings of the families the query is closest to, so "drop the
examples the weak teacher is unsure about" finds findings that only say "conf_filter 30%".
Measured on the two labelled sets (README, "Findings memory").
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from aar.memory._errors import GlossaryError

if TYPE_CHECKING:
    import numpy as np

    from aar.memory._embed import Embedder

GLOSSARY_PATH = Path(__file__).with_name("glossary.toml")


@dataclass(frozen=True)
class Family:
    """One method family or research concept: terms findings use, and what it is in words."""

    key: str
    pattern: re.Pattern[str]  # the family's terms as one alternation (one search per text)
    text: str


@dataclass(frozen=True)
class Glossary:
    families: tuple[Family, ...]
    sha256: str

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(f.key for f in self.families)

    def tag(self, text: str) -> list[str]:
        """Keys of the families whose terms occur in `text` (a finding's words)."""
        lowered = text.lower()
        return [f.key for f in self.families if f.pattern.search(lowered)]

    def vectors(self, embedder: Embedder, cache_dir: Path) -> np.ndarray:
        """The families' description vectors for `embedder`, cached per model and glossary."""
        import numpy as np

        path = Path(cache_dir) / f"glossary-{embedder.name}-{self.sha256[:16]}.npy"
        if path.is_file():
            try:
                cached = np.load(path)
                if cached.shape == (len(self.families), embedder.dim):
                    return cached
            except (OSError, ValueError):
                pass  # a derived cache: recompute below
        vectors = np.asarray(embedder.embed([f.text for f in self.families]), dtype=np.float32)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}.npy")
        np.save(tmp, vectors)
        os.replace(tmp, path)
        return vectors


def _family(entry: object, n: int) -> Family:
    if not isinstance(entry, dict) or not {"key", "match", "text"} <= entry.keys():
        raise GlossaryError(f"glossary family {n} needs 'key', 'match' and 'text'")
    try:
        for p in entry["match"]:
            re.compile(p)  # each one alone, so an error names the bad pattern
        pattern = re.compile("|".join(f"(?:{p})" for p in entry["match"]))
    except (re.error, TypeError) as exc:
        raise GlossaryError(f"glossary family {entry['key']!r}: bad pattern ({exc})") from None
    return Family(key=str(entry["key"]), pattern=pattern, text=str(entry["text"]))


@functools.cache
def load_glossary(path: Path = GLOSSARY_PATH) -> Glossary:
    """Parse and compile the glossary once per process."""
    try:
        raw = path.read_bytes()
        data = tomllib.loads(raw.decode("utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise GlossaryError(f"cannot read the glossary {path}: {exc}") from None
    families = tuple(_family(e, n) for n, e in enumerate(data.get("family", []), 1))
    keys = [f.key for f in families]
    if not families or len(set(keys)) != len(keys):
        raise GlossaryError(f"the glossary {path} needs families with unique keys")
    return Glossary(families=families, sha256=hashlib.sha256(raw).hexdigest())
