"""`_method_config` reads a script in one walk per section (it was one walk per name, ~400 ms
for a 450-line sweep on the proposal page). What it says must not change: each name's
literal is checked against the plain per-name definition (bound exactly once, never changed
in place), on aar's own scripts and on code that rebinds, mutates and shadows; the walk count
is checked instead of a time (a loaded machine times nothing reliably)."""

from __future__ import annotations

import ast
from typing import Any

import pytest

from aar.agent._experiments import experiment_code, method_name
from aar.agent._sweeps import _sweep
from aar.sandbox import split_cells
from aar.session import _method_config as mc
from aar.session._review_digest import script_configs

EDGES = """\
METHOD = "edge"
CONFIG = {"geometry": {"neighbours": 10}}
A = 1
B = [1, 2]
B[0] = 3
C = {"x": 1}
C.update(y=2)
D = 4
D = 5
E = 6
del E
F = 7
def g(F, *args, **kw):
    global G
    G = 1
    return F
H = 8
H += 1
I = (1, 2)
for J in range(3):
    pass
K: int = 9
L = M = 10
N = C["x"]
O = object()
P = {"a": [1, {"b": 2}]}
P["a"][1]["b"] = 4
Q = 11
print(Q.real)
R = 12
with open("x") as R2:
    pass
S = 13
lambda S: S
T = 14
[T for T in range(2)]
import aar_recipes
aar_recipes.train_public(CONFIG, None)
"""


def _reference(section: list[ast.stmt]) -> dict[str, Any]:
    """Each top-level name's literal by the plain definition: walk the whole section for each
    name, asking whether it is bound exactly once and never changed in place."""
    values = mc._values(section)
    nodes = [n for stmt in section for n in ast.walk(stmt)]

    def touched(name: str) -> bool:
        binds = sum(
            isinstance(n, ast.Name) and n.id == name and not isinstance(n.ctx, ast.Load)
            for n in nodes
        )
        return binds != 1 or any(name in mc._changed_names(n) for n in nodes)

    return {k: (mc._UNKNOWN if touched(k) else v) for k, v in values.items()}


def _scripts() -> list[list[str]]:
    knn = split_cells(experiment_code("knn_smoothing", method="knn", params={}))
    logconf = split_cells(experiment_code("logconf", method="lc", params={"aux_coef": 0.25}))
    return [
        knn,
        logconf,
        split_cells(_sweep("knn_smoothing")[1]),
        split_cells(_sweep("confidence_filter")[1]),
        [EDGES],
        [EDGES, *knn],
    ]


@pytest.mark.parametrize("index", range(6))
def test_one_walk_says_what_the_per_name_definition_says(index: int) -> None:
    cells = _scripts()[index]
    sections = mc._sections([ast.parse(c) for c in cells])
    assert sections
    for section in sections:
        assert mc._literals(section) == _reference(list(section))
        assert mc._literals(list(section)) == _reference(list(section))  # a plain list too


def test_the_edge_script_marks_each_kind_of_change() -> None:
    (section,) = mc._sections([ast.parse(EDGES)])
    literals = mc._literals(section)
    known = {k for k, v in literals.items() if v is not mc._UNKNOWN}
    assert known == {"METHOD", "CONFIG", "A", "I", "K", "L", "M", "R"}
    # changed in place, rebound, deleted, a parameter, a lambda's or a comprehension's name,
    # an attribute read (conservative), or not a literal at all
    unknown = {"B", "C", "D", "E", "F", "H", "N", "O", "P", "Q", "S", "T"}
    assert set(literals) - known == unknown
    assert mc._section_config(section) is not None  # CONFIG itself is untouched


def test_each_statement_is_walked_once_however_many_names(monkeypatch) -> None:
    """Linear: the walks are one per top-level statement, for the page's read (method and
    config per section) and for `script_config`, however many names a section binds."""
    walks = {"n": 0}
    real = ast.walk

    def counted(node: ast.AST) -> Any:
        walks["n"] += 1
        return real(node)

    monkeypatch.setattr(mc.ast, "walk", counted)
    values, code = _sweep("knn_smoothing")
    cells = split_cells(code)
    statements = sum(len(s) for s in mc._sections([ast.parse(c) for c in cells]))
    walks["n"] = 0
    configs = script_configs(cells)
    assert walks["n"] == statements and len(configs) == len(values)
    mc._script_sections.cache_clear()
    walks["n"] = 0
    for value in values:
        method = method_name("knn_smoothing", {"geometry.neighbours": value})
        assert mc.script_config(cells, method) == configs[method]
    assert walks["n"] == statements  # parsed and walked once for every method asked


def test_a_cached_script_gives_each_caller_its_own_copy() -> None:
    cells = split_cells(experiment_code("knn_smoothing", method="knn", params={}))
    first = mc.script_config(cells, "knn")
    assert first is not None
    first["geometry"]["neighbours"] = -1
    again = mc.script_config(list(cells), "knn")
    assert again is not None and again["geometry"]["neighbours"] != -1


def test_one_unreadable_section_spoils_only_its_own_method() -> None:
    good = split_cells(experiment_code("knn_smoothing", method="good", params={}))
    bad = [c.replace('"neighbours": 10', '"neighbours": -5') for c in good]
    bad = [c.replace('METHOD = "good"', 'METHOD = "bad"') for c in bad]
    assert any('"neighbours": -5' in c for c in bad) and any('"bad"' in c for c in bad)
    assert mc.script_config([*good, *bad], "good") == mc.script_config(good, "good")
    assert mc.script_config([*good, *bad], "bad") is None
    assert mc.script_config(["METHOD = 'x'\n(", *good], "good") is None  # no parse: unknown
