"""What can go wrong with the findings memory, as one clear line each (all `AarError`s)."""

from __future__ import annotations

from aar.errors import AarError


class FindingsMemoryError(AarError):
    """Base of the findings-memory errors."""


class ForeignStoreError(FindingsMemoryError):
    """The directory or collection holds something aar did not write; it is left untouched."""


class CorruptStoreError(FindingsMemoryError):
    """The store's files exist but chromadb cannot read them."""


class EmbeddingMismatchError(FindingsMemoryError):
    """The store was built with another embedding model than this aar uses."""


class FindingNotFoundError(FindingsMemoryError):
    """No finding has this id."""


class DuplicateFindingIdError(FindingsMemoryError):
    """A finding with this id is already stored."""


class InvalidFindingError(FindingsMemoryError):
    """Input findings failed validation; nothing was written. One line per problem."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        if len(problems) == 1:
            super().__init__(f"{problems[0]} (nothing was written)")
        else:
            head = f"{len(problems)} problems in the input, nothing was written:"
            super().__init__("\n".join([head, *problems]))


class InvalidQueryError(FindingsMemoryError):
    """A search or filter the store cannot run (empty text, bad k, unknown verdict...)."""


class ImportConflictError(FindingsMemoryError):
    """An imported finding has the id of a stored one with different content."""


class MemoryServerError(FindingsMemoryError):
    """The Chroma server named by `memory.url` cannot be reached or used."""


class EmbedderError(FindingsMemoryError):
    """The offline embedding model cannot be built or loaded."""


class DamagedRecordError(FindingsMemoryError):
    """A stored record cannot be read (e.g. written by an older aar with a NaN metric).

    The command ran but could not give what was asked; `aar memory repair` names every such
    record and `aar memory repair --drop-bad` (or `aar memory delete ID`) removes them.
    """

    exit_code = 1


class MemoryFileError(FindingsMemoryError):
    """An export or import file cannot be used: missing, a directory, unreadable, not UTF-8,
    truncated, or an existing file that would be overwritten."""


class GlossaryError(FindingsMemoryError):
    """aar's glossary of method families (glossary.toml) is malformed."""
