"""A finding keeps its method's full `MethodConfig` where the session can read it from the
experiment's script (aar's experiment library: `METHOD` next to a literal `CONFIG`, or a legacy
`FAMILY` and `PARAMS`), so a later session or a person can continue the search from it. Code a
language model wrote, and code that does not parse, say nothing (None). The report's answer
table, `search_memory` and the finding carry it; old reports stay byte for byte the same.

Real scripts from `experiment_code` (and the scripted researcher's sweep), parsed, never run;
states built from evaluator-shaped records as `test_report_layout.py` does.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from records_support import SEEDS, TASK, entries

from aar.agent._config_families import family_config, with_params
from aar.agent._experiments import experiment_code, method_name
from aar.agent._sweeps import _sweep
from aar.bench._train import method_space
from aar.memory import SearchHit
from aar.sandbox import split_cells
from aar.session import SessionConfig
from aar.session._claims import build_finding
from aar.session._finalize import BASELINES
from aar.session._method_config import (
    changes_text,
    config_changes,
    method_config,
    script_config,
)
from aar.session._models import Experiment, Hypothesis, RoundInfo, SessionState
from aar.session._recall import memory_hit
from aar.session._report import render_markdown, report_data

LLM_SCRIPT = """\
import aar_kernel
import numpy as np
from sklearn.linear_model import LogisticRegression

METHOD = "mine"
CONFIG_NOTE = {"geometry": {"neighbours": 10}}  # a dict that trains nothing
for task, seed in aar_kernel.exports():
    t = aar_kernel.load_task(task, seed)
    clf = LogisticRegression().fit(t["transfer_inputs"], t["transfer_weak_labels"].argmax(1))
    for split in ("test", "holdout"):
        p = clf.predict_proba(t[f"{split}_inputs"])
        aar_kernel.save_predictions(p, split=split, name=METHOD, task=task, seed=seed)
"""


def _config_script(method: str, neighbours: int) -> list[str]:
    return split_cells(
        experiment_code("knn_smoothing", method=method, params={"geometry.neighbours": neighbours})
    )


def _expected(family: str, params: dict[str, Any]) -> dict[str, Any]:
    """The configuration by the experiment library's own path (`with_params`)."""
    return with_params(family_config(family), params)


# -- reading a script -------------------------------------------------------------------------


def test_a_config_family_script_gives_its_config_with_the_swept_value() -> None:
    config = script_config(_config_script("knn-20", 20), "knn-20")
    assert config == _expected("knn_smoothing", {"geometry.neighbours": 20})
    assert config is not None and config["geometry"]["neighbours"] == 20  # not the default 10
    assert method_space().MethodConfig.model_validate(config).model_dump() == config  # full
    # weight 0.5 is Geometry's own default: only the neighbours differ from naive
    assert changes_text(config) == "geometry.neighbours=20"
    assert script_config(_config_script("knn-20", 20), "other-method") is None


def test_a_legacy_family_script_maps_its_parameter_into_the_config() -> None:
    cells = split_cells(experiment_code("logconf", method="lc-25", params={"aux_coef": 0.25}))
    config = script_config(cells, "lc-25")
    expected = method_space().FAMILY_CONFIGS["logconf"].model_dump()
    expected["loss"]["aux_coef"] = 0.25
    assert config == expected and expected["loss"]["aux_coef"] != 0.5  # the default is 0.5
    cells = split_cells(experiment_code("early_stopping", method="es", params={"patience": 5}))
    assert config_changes(script_config(cells, "es")) == {
        "training.early_stopping": True,
        "training.patience": 5,
    }
    naive = split_cells(experiment_code("naive", method="naive"))
    assert script_config(naive, "naive") == method_space().MethodConfig().model_dump()


@pytest.mark.parametrize(
    ("family", "param", "path"),
    [
        ("knn_smoothing", "geometry.neighbours", "geometry.neighbours"),
        ("confidence_filter", "keep_fraction", "selection.keep_fraction"),
    ],
)
def test_a_concatenated_sweep_gives_each_method_its_own_section(
    family: str, param: str, path: str
) -> None:
    """The scripted researcher's follow-up: one script, a section per swept value."""
    values, code = _sweep(family)
    cells = split_cells(code)
    configs = []
    for value in values:
        method = method_name(family, {param: value})
        config = script_config(cells, method)
        assert config is not None, method
        part, field = path.split(".")
        assert config[part][field] == value
        configs.append(config)
    assert len({json.dumps(c, sort_keys=True) for c in configs}) == len(values) >= 2


def test_code_a_model_wrote_says_nothing() -> None:
    cells = split_cells(LLM_SCRIPT)
    assert script_config(cells, "mine") is None
    # METHOD and a literal CONFIG, but the config is changed after it is assigned
    changed = _config_script("knn", 10)
    changed.insert(2, 'CONFIG["geometry"]["neighbours"] = 40')
    assert script_config(changed, "knn") is None
    # a config built at run time
    built = [
        c.replace('CONFIG = {"geometry": {"neighbours": 10}}', "CONFIG = make()")
        for c in _config_script("knn", 10)
    ]
    assert script_config(built, "knn") is None
    # two trainings under one name, with different configurations
    twice = [*_config_script("knn", 10), *_config_script("knn", 20)]
    assert script_config(twice, "knn") is None
    assert script_config([*_config_script("knn", 10), *_config_script("knn", 10)], "knn")


@pytest.mark.parametrize(
    "cells",
    [
        ["METHOD = 'knn'\nCONFIG = {", "def f(:"],
        ["!pip install x", *_config_script("knn", 10)],
        [
            'METHOD = "knn"\nCONFIG = {"geometry": {"neighbours": 1000}}\n'
            "aar_recipes.train_public(CONFIG, t, 0)"
        ],
        ['METHOD = "knn"\nCONFIG = [1, 2]\naar_recipes.train_public(CONFIG, t, 0)'],
        ['METHOD = "knn"\nCONFIG = {"nope": {}}\naar_recipes.train_public(CONFIG, t, 0)'],
        ['METHOD = "knn"\naar_methods.train_public("logconf", t, 0, {"bogus": 1})'],
        ['METHOD = "knn"\naar_recipes.train_public(*args)'],
        ["METHOD = 'knn'\nx = " + "(" * 5000 + ")" * 5000],
        ["\x00"],
        [],
    ],
)
def test_garbage_says_nothing_and_never_raises(cells: list[str]) -> None:
    assert script_config(cells, "knn") is None


def test_a_literal_call_without_names_is_read_too() -> None:
    cells = ['METHOD = "lc"\naar_methods.train_public("logconf", t, 0, {"aux_coef": 0.75})']
    assert config_changes(script_config(cells, "lc")) == {"loss.aux_coef": 0.75}


# -- the session's state and its findings -----------------------------------------------------


def _state(cells: list[str], method: str = "bagged") -> SessionState:
    """naive (e-01) and `method` (e-02, running `cells`): `method` confirmed better than naive
    on test feedback and holdout, as in `test_report_layout.py`."""
    config = SessionConfig(tasks=[TASK], seeds=SEEDS, hypotheses=1)
    state = SessionState(id="s-test", config=config, report_layout=2)
    state.rounds.append(RoundInfo(number=1, kind="research", started_at=datetime.now(UTC)))
    state.rounds[0].ended = True
    state.hypotheses = {
        "h1-1": Hypothesis(
            id="h1-1",
            round=1,
            statement="bagging helps",
            method=method,
            family="ensemble",
            params={"ensemble.members": 6.0},
        )
    }
    naive = split_cells(experiment_code("naive", method="naive"))
    state.experiments["e-01"] = Experiment(
        id="e-01", round=1, hypothesis_id=BASELINES, cells=naive, status="done"
    )
    state.experiments["e-02"] = Experiment(
        id="e-02", round=1, hypothesis_id="h1-1", cells=cells, status="done"
    )
    zero = [0.0] * 5
    state.evaluations = [
        *entries("naive", "e-01", zero, "test"),
        *entries(method, "e-02", [0.20, 0.22, 0.21, 0.23, 0.20], "test"),
    ]
    state.holdout = [
        *entries("naive", "e-01", zero, "holdout"),
        *entries(method, "e-02", [0.11, 0.10, 0.12, 0.12, 0.11], "holdout"),
    ]
    return state


def _ensemble_cells(method: str = "bagged") -> list[str]:
    return split_cells(experiment_code("ensemble", method=method, params={"ensemble.members": 6}))


def _record(state: SessionState, methods: tuple[str, ...] = ("bagged", "naive")) -> Any:
    finding = build_finding(
        state,
        hypothesis_id="h1-1",
        summary="bagged vs naive on test feedback",
        verdict="supported",
        eval_record_ids=[e.record.id for e in state.evaluations if e.record.method in methods],
        git_commit="c" * 40,
    )
    state.findings[finding.id] = finding
    return finding


def test_a_finding_records_the_full_config_of_its_experiments_script() -> None:
    state = _state(_ensemble_cells())
    expected = _expected("ensemble", {"ensemble.members": 6})
    assert method_config(state, "bagged") == expected
    assert method_config(state, "naive") == method_space().MethodConfig().model_dump()
    finding = _record(state)
    assert finding.config == expected
    assert config_changes(finding.config) == {"ensemble.members": 6, "ensemble.bagging": True}
    assert json.loads(finding.model_dump_json())["config"] == expected  # what the memory keeps


def test_a_finding_of_llm_code_or_citing_only_naive_holds_no_config() -> None:
    state = _state(split_cells(LLM_SCRIPT.replace('"mine"', '"bagged"')))
    assert method_config(state, "bagged") is None
    finding = _record(state)
    assert finding.config is None and "config" not in json.loads(finding.model_dump_json())
    state = _state(_ensemble_cells())
    only_naive = _record(state, ("naive",))
    assert only_naive.method.startswith("bagged") and only_naive.config is None


def test_one_name_for_two_codes_is_unknown_unless_the_cited_records_say_which() -> None:
    state = _state(_ensemble_cells())
    other = split_cells(
        experiment_code("ensemble", method="bagged", params={"ensemble.members": 2})
    )
    state.experiments["e-03"] = Experiment(id="e-03", round=1, hypothesis_id="h1-1", cells=other)
    later = [
        e.model_copy(
            update={
                "experiment": "e-03",
                "record": e.record.model_copy(update={"id": f"x-{e.record.id}"}),
            }
        )
        for e in entries("bagged", "e-03", [0.1] * 5, "test")
    ]
    state.evaluations += later
    assert method_config(state, "bagged") is None
    assert method_config(state, "bagged", [e.record.id for e in later]) == _expected(
        "ensemble", {"ensemble.members": 2}
    )


# -- the report's answer table ----------------------------------------------------------------


def test_the_answer_table_shows_the_configurations_diff_from_naive() -> None:
    state = _state(_ensemble_cells())
    _record(state)
    data = report_data(state, 1, [])
    (answer,) = data.answer
    assert answer.method == "bagged"
    assert answer.changes == "ensemble.members=6, ensemble.bagging=True"
    line = next(x for x in render_markdown(data).splitlines() if x.startswith(f"| {TASK} |"))
    assert "| ensemble.members=6, ensemble.bagging=True |" in line
    assert "family ensemble" not in line
    assert json.loads(data.model_dump_json())["answer"][0]["changes"] == answer.changes


def test_without_a_config_the_answer_and_old_reports_are_as_before() -> None:
    state = _state(split_cells(LLM_SCRIPT.replace('"mine"', '"bagged"')))
    _record(state)
    data = report_data(state, 1, [])
    (answer,) = data.answer
    assert (
        answer.changes is None and "changes" not in json.loads(data.model_dump_json())["answer"][0]
    )
    line = next(x for x in render_markdown(data).splitlines() if x.startswith(f"| {TASK} |"))
    assert "| family ensemble; ensemble.members=6 |" in line


def test_a_layout_1_report_is_the_same_with_or_without_configs() -> None:
    with_config = _state(_ensemble_cells())
    with_config.report_layout = 1
    finding = _record(with_config)
    assert finding.config is not None
    without = with_config.model_copy(deep=True)
    without.findings = {finding.id: finding.model_copy(update={"config": None})}
    old, new = report_data(without, 1, []), report_data(with_config, 1, [])
    assert render_markdown(new) == render_markdown(old)
    assert new.model_dump_json() == old.model_dump_json()


# -- what search_memory shows a model ---------------------------------------------------------


def test_search_memory_shows_the_configs_changes_and_nothing_for_older_findings() -> None:
    state = _state(_ensemble_cells())
    finding = _record(state)
    hit = memory_hit(SearchHit(finding=finding, score=0.5, similarity=0.5))
    assert hit.config == {"ensemble.members": 6, "ensemble.bagging": True}
    assert list(json.loads(hit.model_dump_json()))[-1] == "config"
    old = memory_hit(
        SearchHit(finding=finding.model_copy(update={"config": None}), score=0.5, similarity=0.5)
    )
    assert "config" not in json.loads(old.model_dump_json())
    out_of_space = finding.model_copy(update={"config": {"geometry": {"neighbours": 1000}}})
    assert memory_hit(SearchHit(finding=out_of_space, score=0.5, similarity=0.5)).config is None
