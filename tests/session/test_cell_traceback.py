"""A failed cell's traceback as a model reads it: the cell's own lines, trimmed and safe.

The raw lines are IPython's, as the kernel sends them (colour codes included), recorded from a
real kernel; the end-to-end check through a provider is in `test_tools_for_models.py`.
"""

from __future__ import annotations

from aar.sandbox import CellError
from aar.session._views import TRACEBACK_CHARS, cell_traceback

RULE = "\x1b[31m" + "-" * 75 + "\x1b[39m"


def _header(ename: str) -> str:
    return f"\x1b[31m{ename}\x1b[39m{' ' * 32}Traceback (most recent call last)"


def _cell_frame(line: int, source: str, where: str = "") -> str:
    return (
        f"\x1b[36mCell\x1b[39m\x1b[36m \x1b[39m\x1b[32mIn[4]\x1b[39m\x1b[32m, line {line}"
        f"\x1b[39m{where}\n\x1b[32m      1\x1b[39m \x1b[38;5;28;01mdef\x1b[39;00m g(n):\n"
        f"\x1b[32m----> \x1b[39m\x1b[32m{line}\x1b[39m {source}\n"
    )


def _error(evalue: str, frames: list[str]) -> CellError:
    last = f"\x1b[31mValueError\x1b[39m: {evalue}"
    return CellError(
        ename="ValueError", evalue=evalue, traceback=[RULE, _header("ValueError"), *frames, last]
    )


def test_a_deep_recursion_keeps_the_cells_top_line_and_the_innermost_frames() -> None:
    frames = [_cell_frame(5, "g(6)")]
    frames += [_cell_frame(4, "    return g(n-1)", ", in \x1b[36mg\x1b[39m(n)")] * 6
    frames += [_cell_frame(3, "        raise ValueError('x')", ", in \x1b[36mg\x1b[39m(n)")]
    text = cell_traceback(_error("x", frames))
    assert text is not None and "\x1b" not in text
    lines = text.splitlines()
    assert lines[1:3] == ["  Cell In[4], line 5", "    ----> 5 g(6)"]
    assert "  ... 5 more frames of the cell ..." in lines
    assert lines[-3:] == [
        "  Cell In[4], line 3, in g(n)",
        "    ----> 3         raise ValueError('x')",
        "ValueError: x",
    ]
    assert text.count("Cell In[4]") == 3


def test_a_library_frame_below_the_cell_is_named_once() -> None:
    library = (
        "\x1b[36mFile \x1b[39m\x1b[32m/site-packages/numpy/linalg/_linalg.py:144\x1b[39m, in "
        "\x1b[36m_raise\x1b[39m\x1b[34m(err, flag)\x1b[39m\n\x1b[32m    143\x1b[39m def _raise():\n"
        '\x1b[32m--> \x1b[39m\x1b[32m144\x1b[39m     raise LinAlgError("Singular matrix")\n'
    )
    text = cell_traceback(_error("Singular matrix", [_cell_frame(2, "inv(a)"), library, library]))
    assert text is not None
    assert "  then 2 frame(s) outside the cell; the last:" in text
    assert '    --> 144     raise LinAlgError("Singular matrix")' in text
    assert text.count("_linalg.py:144") == 1


def test_hidden_characters_are_marked_and_the_length_is_capped() -> None:
    evalue = "x\u202e" + "y" * 10_000
    text = cell_traceback(_error(evalue, [_cell_frame(2, "f()")]))
    assert text is not None and "\u202e" not in text
    assert len(text) <= TRACEBACK_CHARS
    long_line = cell_traceback(_error("short", [_cell_frame(2, "z = " + "1 + " * 500 + "1")]))
    assert long_line is not None and "…" in long_line and long_line.endswith("ValueError: short")


def test_a_syntax_error_keeps_its_caret_and_no_error_has_no_traceback() -> None:
    syntax = (
        "  \x1b[36mCell\x1b[39m\x1b[36m \x1b[39m\x1b[32mIn[1]\x1b[39m\x1b[32m, line 1\x1b[39m\n"
        "\x1b[31m    \x1b[39m\x1b[31mdef f(:\x1b[39m\n          ^\n"
        "\x1b[31mSyntaxError\x1b[39m\x1b[31m:\x1b[39m invalid syntax\n"
    )
    error = CellError(ename="SyntaxError", evalue="invalid syntax", traceback=[syntax])
    text = cell_traceback(error)
    assert text is not None and text.splitlines()[1:] == [
        "  Cell In[1], line 1",
        "    def f(:",
        "          ^",
        "SyntaxError: invalid syntax",
    ]
    assert cell_traceback(None) is None
    assert cell_traceback(CellError(ename="E", evalue="v")) is None
