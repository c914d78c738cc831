"""The store's parts on their own: the one paging helper and the relinking of near-duplicates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from memory_support import minimal

from aar.memory import Finding
from aar.memory._collection import PAGE, pages
from aar.memory._dedup import relink


def test_pages_cover_every_item_once() -> None:
    for n in (0, 1, PAGE, PAGE + 1, 3 * PAGE - 1):
        items = list(range(n))
        assert [i for part in pages(n) for i in items[part]] == items
    assert len(list(pages(PAGE + 1))) == 2


def test_relink_makes_the_oldest_duplicate_the_original() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)

    def made(fid: str, minutes: int, duplicate_of: str | None = None) -> Finding:
        return Finding.model_validate(
            minimal(id=fid, created_at=(start + timedelta(minutes=minutes)).isoformat())
        ).model_copy(update={"duplicate_of": duplicate_of})

    stored = [made("f-orig", 0), made("f-b", 2, "f-orig"), made("f-a", 1, "f-orig"), made("f-x", 3)]
    new = {f.id: f.duplicate_of for f in relink(stored, ["f-orig"])}
    assert new == {"f-a": None, "f-b": "f-a"}
    assert relink(stored, ["f-x"]) == []
