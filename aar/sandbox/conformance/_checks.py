"""The vocabulary of battery cases: a hostile cell, what it must end in, and its checks.

A hostile cell prints "BLOCKED <what> <error>" for every attempt that failed and
"ESCAPED <what>" for any that worked; checks assert on these lines and on the cell's status.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from aar.sandbox._environment import Sandbox
from aar.sandbox._result import CellResult
from aar.sandbox.conformance._host import HostPlaces, fail

TRY = """
def attempt(what, fn):
    try:
        fn()
    except BaseException as e:
        print("BLOCKED", what, type(e).__name__, e)
    else:
        print("ESCAPED", what)
"""

Check = Callable[[CellResult, HostPlaces], None]


@dataclass(frozen=True)
class Case:
    """One hostile cell run in a shared sandbox, and the outcome it must have."""

    id: str
    code: Callable[[HostPlaces], str]
    check: Check
    timeout: float = 15.0
    after: Callable[[Sandbox], None] | None = None
    """A check of the sandbox's files once the cell is done (e.g. a size limit held)."""


def lines(stdout: str, word: str) -> list[str]:
    """Lines of a hostile cell's output starting with `word` (BLOCKED or ESCAPED)."""
    return [line for line in stdout.splitlines() if line.startswith(word)]


def expect(condition: bool, message: object) -> None:
    """Fail the case with `message` unless `condition` holds."""
    if not condition:
        fail(str(message))


def blocked(n: int) -> Check:
    """Expect `n` BLOCKED lines and no ESCAPED line from a cell that ran to completion."""

    def check(result: CellResult, places: HostPlaces) -> None:
        expect(result.status == "ok", result)
        expect(not lines(result.stdout, "ESCAPED"), result.stdout)
        expect(len(lines(result.stdout, "BLOCKED")) == n, result.stdout)

    return check


def status_is(status: str, *, message: str = "", ename: str = "") -> Check:
    """Expect the cell's status, a phrase in its message and the exception's name."""

    def check(result: CellResult, places: HostPlaces) -> None:
        expect(result.status == status, result)
        expect(message in (result.message or ""), result.message)
        if ename:
            expect(result.error is not None and result.error.ename == ename, result.error)

    return check


def all_of(*checks: Check) -> Check:
    """Every one of `checks`."""

    def check(result: CellResult, places: HostPlaces) -> None:
        for one in checks:
            one(result, places)

    return check


def prints(text: str) -> Check:
    """The cell's stdout contains `text`."""

    def check(result: CellResult, places: HostPlaces) -> None:
        expect(text in result.stdout, result.stdout)

    return check
