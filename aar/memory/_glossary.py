"""aar's glossary of W2S method families (`glossary.toml`): what makes search survive paraphrase.

A finding is tagged with the families whose technical terms it uses (regular expressions over
its text, tags and tasks); a query is compared, by embedding, with each family's descriptions.
The search index adds a bonus to findings of the families the query is closest to, so "drop the
examples the weak teacher is unsure about" finds findings that only say "conf_filter 30%".

Each family has several descriptions in different vocabularies (`text` plus `also`: plain words,
adjacent fields' jargon, a practitioner's question), and its closeness to a query is the best of
them: one description fits one author's phrasing, several fit people who never read it (a blind
paraphrase set gained more from this than from any weight). Tasks (`[[task]]`: the data sets,
described by what they are) work the same way and earn their own, smaller bonus.
Measured on the labelled sets (tools/bench/bench_memory.py).
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
    texts: tuple[str, ...]  # its descriptions: `text` first, then `also`
    kind: str = "family"  # "family" (a method or concept) or "task" (a data set)

    @property
    def text(self) -> str:
        return self.texts[0]


@dataclass(frozen=True)
class Glossary:
    families: tuple[Family, ...]
    sha256: str

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(f.key for f in self.families)

    @property
    def owners(self) -> tuple[int, ...]:
        """For each description (in `vectors` order), the index of its family."""
        return tuple(j for j, f in enumerate(self.families) for _ in f.texts)

    def tag(self, text: str) -> list[str]:
        """Keys of the families whose terms occur in `text` (a finding's words)."""
        lowered = text.lower()
        return [f.key for f in self.families if f.pattern.search(lowered)]

    def vectors(self, embedder: Embedder, cache_dir: Path) -> np.ndarray:
        """Every description's vector for `embedder` (rows in `owners` order), cached per model
        and glossary."""
        import numpy as np

        path = Path(cache_dir) / f"glossary-{embedder.name}-{self.sha256[:16]}.npy"
        if path.is_file():
            try:
                cached = np.load(path)
                if cached.shape == (len(self.owners), embedder.dim):
                    return cached
            except (OSError, ValueError):
                pass  # a derived cache: recompute below
        texts = [t for f in self.families for t in f.texts]
        vectors = np.asarray(embedder.embed(texts), dtype=np.float32)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}.npy")
        np.save(tmp, vectors)
        os.replace(tmp, path)
        return vectors


def _family(entry: object, n: int, kind: str = "family") -> Family:
    if not isinstance(entry, dict) or not {"key", "match", "text"} <= entry.keys():
        raise GlossaryError(f"glossary {kind} {n} needs 'key', 'match' and 'text'")
    also = entry.get("also", [])
    if not isinstance(also, list) or not all(isinstance(t, str) and t for t in also):
        raise GlossaryError(f"glossary {kind} {entry['key']!r}: 'also' must be a list of texts")
    try:
        for p in entry["match"]:
            re.compile(p)  # each one alone, so an error names the bad pattern
        pattern = re.compile("|".join(f"(?:{p})" for p in entry["match"]))
    except (re.error, TypeError) as exc:
        raise GlossaryError(f"glossary family {entry['key']!r}: bad pattern ({exc})") from None
    texts = (str(entry["text"]), *also)
    return Family(key=str(entry["key"]), pattern=pattern, texts=texts, kind=kind)


@functools.cache
def load_glossary(path: Path = GLOSSARY_PATH) -> Glossary:
    """Parse and compile the glossary once per process."""
    try:
        raw = path.read_bytes()
        data = tomllib.loads(raw.decode("utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise GlossaryError(f"cannot read the glossary {path}: {exc}") from None
    families = tuple(_family(e, n) for n, e in enumerate(data.get("family", []), 1)) + tuple(
        _family(e, n, "task") for n, e in enumerate(data.get("task", []), 1)
    )
    keys = [f.key for f in families]
    if not families or len(set(keys)) != len(keys):
        raise GlossaryError(f"the glossary {path} needs families with unique keys")
    return Glossary(families=families, sha256=hashlib.sha256(raw).hexdigest())
