"""`aar memory show` as a reader needs it: a mean over one seed states no standard error (a
stored 0 would read as an exact number), and the basis the session decided the verdict on
(fresh seeds, the difference from naive, the adjusted p) is in the plain view, not only in
`--json`."""

from __future__ import annotations

from pathlib import Path

from memory_support import minimal, run, write
from typer.testing import CliRunner

from aar.config import get_settings
from aar.memory import Finding, open_store

BASIS = {
    "split": "holdout",
    "seeds": list(range(1000, 1010)),
    "fresh_seeds": True,
    "baseline": "naive",
    "test": "paired t-test (two-sided)",
    "level": 0.05,
    "correction": "holm",
    "family_size": 6,
    "screen": "test feedback, paired t-test (two-sided), p <= 0.2",
    "mean_difference": 0.12038944184442983,
    "p_value": 0.0035,
    "adjusted_p": 0.021000010568129994,
    "why": "logconf on digits-ge5: confirmed on holdout",
}


def _one_seed(**overrides: object) -> dict:
    return minimal(
        id="f-one-seed",
        metrics={"pgr_acc_mean": 0.5, "pgr_acc_se": 0.0, "seeds": [45]},
        verdict_basis=BASIS,
        **overrides,
    )


def _store(record: dict) -> None:
    """As a session's end of round stores it (`memory add` refuses a verdict basis)."""
    open_store(get_settings()).add(Finding.model_validate(record))


def _unwrapped(text: str) -> str:
    """The panel's text as one line: borders dropped, wrapped values joined."""
    return " ".join(text.replace("│", " ").split())


def _line(text: str, key: str) -> str:
    return next(line for line in text.splitlines() if key in line)


def test_one_seed_has_no_standard_error(cli: CliRunner, tmp_path: Path) -> None:
    _store(_one_seed())
    shown = run(cli, "show", "f-one-seed")
    assert shown.exit_code == 0, shown.output
    pgr = _line(shown.stdout, "PGR accuracy")
    assert "+0.500" in pgr and "± 0.000" not in pgr and "1 seed, no SE" in pgr
    listed = run(cli, "list")
    assert "± 0.000" not in listed.stdout and "(1 seed)" in listed.stdout
    # over two seeds or more the SE is a real one, and shown as such
    many = minimal(id="f-two", metrics={"pgr_acc_mean": 0.4, "pgr_acc_se": 0.0, "seeds": [42, 43]})
    assert run(cli, "add", write(tmp_path / "g.json", many)).exit_code == 0
    assert "+0.400 ± 0.000" in run(cli, "show", "f-two").stdout


def test_show_gives_the_verdict_basis(cli: CliRunner, tmp_path: Path) -> None:
    _store(_one_seed())
    shown = run(cli, "show", "f-one-seed")
    text = _unwrapped(shown.stdout)
    assert "verdict basis" in text
    for part in ("10 fresh seeds (1000–1009)", "naive +0.120", "Holm-adjusted p 0.021"):
        assert part in text, part
    unbased = minimal(id="f-claim")
    assert run(cli, "add", write(tmp_path / "g.json", unbased)).exit_code == 0
    claim = _unwrapped(run(cli, "show", "f-claim").stdout)
    assert "not decided by a session" in claim
