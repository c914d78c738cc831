"""`runs/<id>/` is a git repository: every step's code, notebooks, findings, report and
proposals are committed when they happen (gitpython). Big arrays (the public export, scratch
with its predictions) stay out of git; their sha256 values are in the event log."""

from __future__ import annotations

from pathlib import Path

IGNORED = """\
# Big arrays: the public export and each experiment's scratch (predictions); their sha256
# values are in events.jsonl.
/public/
/experiments/*/scratch/
/experiments/*/task/
*.lock
"""
_AUTHOR = ("aar", "aar@localhost")


class Workspace:
    """The session directory as a git repository."""

    def __init__(self, root: Path) -> None:
        import git

        self.root = root
        self.repo = git.Repo(root)

    @classmethod
    def create(cls, root: Path) -> Workspace:
        """Initialise the repository with its ignore rules (the directory must exist)."""
        import git

        git.Repo.init(root, initial_branch="main")
        (root / ".gitignore").write_text(IGNORED)
        return cls(root)

    def clear_stale_index_lock(self) -> bool:
        """Remove `.git/index.lock` left by a git that was killed with its session.

        Only a caller holding the session's writer lock may call this: that lock proves no
        other aar process writes here, so a leftover index lock is stale, and without removing
        it every later commit (and so `aar resume`) fails. Returns whether one was removed."""
        lock = Path(self.repo.git_dir) / "index.lock"
        try:
            lock.unlink()
        except FileNotFoundError:
            return False
        return True

    def commit(self, message: str) -> str:
        """Commit everything not ignored (if anything changed); returns HEAD's sha.

        Ctrl-C typed in a terminal sends SIGINT to the whole foreground process group, which
        kills GitPython's long-lived `git cat-file` helpers too: the commit that saves the
        interrupted experiment then met a broken pipe, and `aar run` exited 1 without a word.
        The helpers are started afresh once, and the commit made."""
        try:
            return self._commit(message)
        except BrokenPipeError:
            self.repo.git.clear_cache()
            return self._commit(message)

    def _commit(self, message: str) -> str:
        import git

        self.repo.git.add("-A")
        if self.repo.head.is_valid() and not self.repo.index.diff("HEAD"):
            return self.head
        actor = git.Actor(*_AUTHOR)
        return self.repo.index.commit(message, author=actor, committer=actor).hexsha

    @property
    def head(self) -> str:
        return self.repo.head.commit.hexsha

    def tracked(self) -> list[str]:
        """Paths in HEAD (for tests and `aar sessions show`)."""
        return sorted(str(item.path) for item in self.repo.head.commit.tree.list_traverse())
