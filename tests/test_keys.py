"""Host secret keys (`aar.keys`): many threads of one process creating the same key at once
all read the one key that was made (a web server's request threads do this on a fresh
installation; each used to write the same temporary file, and all but one failed)."""

from __future__ import annotations

import threading
from pathlib import Path

from aar.keys import KEY_BYTES, key_bytes


def test_threads_creating_one_key_at_once_all_get_it(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "review-key"
    barrier = threading.Barrier(16)
    got: list[bytes | BaseException] = []

    def create() -> None:
        barrier.wait()
        try:
            got.append(key_bytes(path, create=True))
        except BaseException as exc:  # recorded: the assertion below names it
            got.append(exc)

    threads = [threading.Thread(target=create) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(isinstance(k, bytes) for k in got), got
    assert len(set(got)) == 1 and len(got[0]) == KEY_BYTES  # type: ignore[arg-type]
    assert [p.name for p in path.parent.iterdir()] == ["review-key"]  # no temporary file left
