"""The scripted researcher's decisions: which families, which verdicts, which follow-up."""

from __future__ import annotations

import math

from aar.agent import choose_families
from aar.agent._compare import compare
from aar.agent._sweeps import followup_proposal, parse_method
from aar.sandbox import split_cells


def _finding(family: str, verdict: str, task: str = "digits-ge5", review: str = "pending"):
    return {"tags": [f"family:{family}"], "verdict": verdict, "tasks": [task], "review": review}


def test_untried_families_come_first_with_a_control() -> None:
    first = choose_families([], ["digits-ge5"], 3)
    assert first == ["propagation_self_training", "self_training", "control_hard_labels"]
    memory = [_finding(f, "supported") for f in first]
    second = choose_families(memory, ["digits-ge5"], 3)
    assert not set(second) & set(first)
    assert second == ["cosine_propagation", "label_propagation", "control_random_flip"]


def test_inconclusive_is_tried_not_settled_and_rejected_is_ignored() -> None:
    memory = [
        _finding("propagation_self_training", "inconclusive"),
        _finding("self_training", "refuted", review="rejected"),
    ]
    picks = choose_families(memory, ["digits-ge5"], 2)
    assert picks == ["self_training", "control_hard_labels"]
    other_task = choose_families(
        [_finding("propagation_self_training", "supported", task="breast-cancer")],
        ["digits-ge5"],
        1,
    )
    assert other_task == ["propagation_self_training"]


def _feedback(pgr: list[float]) -> dict:
    return {
        "seeds": [42, 43, 44],
        "pgr_acc_by_seed": pgr,
        "pgr_acc_mean": sum(pgr) / 3,
        "record_ids": [f"r{i}" for i in range(3)],
    }


def test_claimed_verdicts_come_from_the_paired_t_test() -> None:
    naive = _feedback([0.20, 0.30, 0.25])
    better = compare("logconf", "logconf", "t", _feedback([0.30, 0.41, 0.35]), naive)
    worse = compare("logconf", "logconf", "t", _feedback([0.10, 0.21, 0.14]), naive)
    mixed = compare("logconf", "logconf", "t", _feedback([0.30, 0.20, 0.26]), naive)
    assert (better["verdict"], worse["verdict"], mixed["verdict"]) == (
        "supported",
        "refuted",
        "inconclusive",
    )
    assert better["record_ids"] == ["r0", "r1", "r2", "r0", "r1", "r2"]
    assert "paired difference +0.103" in better["summary"]
    # the summary states numbers, not a verdict: the session decides that on holdout
    assert "supported" not in better["summary"] and "refuted" not in worse["summary"]


def test_followup_sweeps_the_best_family_where_it_helped() -> None:
    outcomes = [
        {"family": "logconf", "task": "digits-ge5", "verdict": "supported", "diff": 0.1},
        {"family": "logconf", "task": "breast-cancer", "verdict": "inconclusive", "diff": 0.02},
        {"family": "early_stopping", "task": "digits-ge5", "verdict": "supported", "diff": 0.05},
    ]
    proposal = followup_proposal(outcomes, [42, 43])
    assert proposal is not None and "aux_coef over 0.25, 0.75, 1" in proposal["rationale"]
    assert "beat" not in proposal["rationale"]  # no finding is decided while the round runs
    code = proposal["code"]
    assert "logconf-aux_coef-0.25" in code and split_cells(code)
    # it runs on every mounted pair, so the session can re-run it on fresh seeds
    assert "digits-ge5" not in code and "breast-cancer" not in code
    # nothing gained on test feedback: an exploratory sweep that says so and claims nothing
    explore = followup_proposal([{**outcomes[0], "verdict": "refuted", "diff": -0.1}], [42])
    assert explore is not None and explore["rationale"].startswith("No family showed a gain")
    shown_none = [{**outcomes[0], "verdict": "not_shown", "diff": None}]
    assert followup_proposal(shown_none, [42]) is not None
    control = {"family": "control_hard_labels", "task": "t", "verdict": "refuted", "diff": -0.1}
    assert followup_proposal([control], [42]) is None  # no parameter to sweep


def test_a_method_the_scorer_showed_no_score_gets_a_finding_with_no_number() -> None:
    """The scorer's ladder shows a score only when it beats the best shown: a method with no
    shown score has no number to cite, so its finding states none and claims inconclusive
    (the memory still learns it was tried; the session decides the verdict on holdout)."""
    from aar.agent._compare import record_verdicts

    naive = _feedback([0.20, 0.30, 0.25])
    unseen = compare("logconf", "logconf", "t", _feedback([math.nan] * 3), naive)
    assert unseen is not None and unseen["verdict"] == "not_shown"
    assert "no score" in unseen["summary"] and not any(c.isdigit() for c in unseen["summary"])
    tested = {"t": _feedback([math.nan] * 3)}
    script = record_verdicts("h1", "logconf", "logconf", tested, {"t": naive})
    name, args = next(script)
    assert name == "record_finding" and args["verdict"] == "inconclusive"
    assert args["eval_record_ids"] and "no score" in args["summary"]
    try:
        script.send({"id": "f-1", "metrics": None, "feedback": "withheld"})
    except StopIteration as done:
        assert [o["verdict"] for o in done.value] == ["not_shown"]  # the round summary's list
    else:
        raise AssertionError("one finding per scored task, then the outcomes")
    one = compare("logconf", "logconf", "t", _feedback([0.5, math.nan, math.nan]), naive)
    assert one is not None and one["verdict"] == "inconclusive"
    assert "on 1 seed with a shown score (42)" in one["summary"] and "CI" not in one["summary"]
    # naive on the same seed (0.20), not its mean over all three (0.25): 0.500 - 0.200 = +0.300
    assert "PGR 0.500 vs 0.200" in one["summary"] and "+0.300" in one["summary"]
    assert one["record_ids"] == ["r0", "r0"]  # the records of that seed, the method's and naive's


def test_method_names_parse_back() -> None:
    assert parse_method("logconf-aux_coef-0.25") == ("logconf", {"aux_coef": 0.25})
    assert parse_method("bootstrap") == ("bootstrap", {})
    assert parse_method("mine-x-1") == (None, {})


def _records(method: str, pgr: list[float]) -> list:
    from datetime import UTC, datetime

    from aar.bench import EvalRecord

    return [
        EvalRecord(
            id=f"{method}-{seed}",
            task="digits-ge5",
            seed=seed,
            split="test",
            method=method,
            metrics={"acc": 0.8, "pgr_acc": value, "weak_acc": 0.75, "ceiling_acc": 0.95},
            code_sha256="x",
            timestamp=datetime.now(UTC),
            rounded=True,
            rounding=0.01,
            predictions_sha256="y",
            budget_used=1,
            budget_total=10,
        )
        for seed, value in zip([42, 43, 44, 45, 46], pgr, strict=True)
    ]


def _as_feedback(records: list) -> dict:
    return {
        "seeds": [r.seed for r in records],
        "pgr_acc_by_seed": [r.metrics["pgr_acc"] for r in records],
        "record_ids": [r.id for r in records],
    }


def test_a_partly_shown_method_is_compared_with_naive_on_its_shown_seeds_only() -> None:
    """Every number of the summary comes from the seeds the scorer showed for the method, which
    it names: naive's mean over all five seeds beside the method's one-seed score compared
    nothing (the new user's 0.500 vs 0.262 with a +0.350 difference). The cited records are
    those seeds' records, and they back every number (the session's number check)."""
    from aar.session._evidence import check_numbers, evidence

    nan = math.nan
    naive = _records("naive", [0.20, 0.35, 0.10, 0.30, 0.25])
    mine = _records("logconf", [nan, 0.50, 0.30, nan, 0.40])
    out = compare("logconf", "logconf", "digits-ge5", _as_feedback(mine), _as_feedback(naive))
    assert out is not None
    summary = out["summary"]
    assert "on 3 seeds with a shown score (43, 44, 46)" in summary
    assert "PGR 0.400 vs 0.233" in summary and "paired difference +0.167" in summary
    assert "0.240" not in summary  # naive's mean over all five seeds
    cited = {r.id: r for r in mine + naive}
    assert sorted(out["record_ids"]) == sorted(
        ["logconf-43", "logconf-44", "logconf-46", "naive-43", "naive-44", "naive-46"]
    )
    backing = evidence([cited[rid] for rid in out["record_ids"]])
    check_numbers(summary, backing, where="the finding", names=["logconf", "naive", "digits-ge5"])
    one = compare(
        "logconf", "logconf", "digits-ge5", _as_feedback(mine[:2]), _as_feedback(naive[:2])
    )
    assert one is not None and "on 1 seed with a shown score (43)" in one["summary"]
    assert "PGR 0.500 vs 0.350; paired difference +0.150." in one["summary"]
    check_numbers(
        one["summary"],
        evidence([cited[rid] for rid in one["record_ids"]]),
        where="the finding",
        names=["logconf", "naive", "digits-ge5"],
    )


def test_a_configuration_family_takes_its_key_parameter_through_its_config_field() -> None:
    """The method space's families vary a `component.field` of their configuration (the
    search inside a hypothesis tries its grid): the scripts hold that value in CONFIG, and the
    method names parse back."""
    from aar.agent._experiments import FAMILIES, experiment_code, method_name
    from aar.bench._train import method_space

    param = FAMILIES["knn_smoothing"].param
    assert param is not None and param.name == "geometry.neighbours"
    for value in (v for v in param.grid if v != param.default):
        name = method_name("knn_smoothing", {param.name: value})
        assert parse_method(name) == ("knn_smoothing", {param.name: value})
    code = experiment_code("knn_smoothing", method="k40", params={"geometry.neighbours": 40})
    namespace: dict = {}
    setup = split_cells(code)[0]
    exec(setup[setup.index("CONFIG = ") :].split("\nPAIRS")[0], namespace)
    config = method_space().MethodConfig.model_validate(namespace["CONFIG"])
    assert config.geometry.neighbours == 40 and config.geometry.weight == 0.5


def test_a_search_rounds_summary_fits_its_field_and_states_no_count() -> None:
    """A 7-task search scores dozens of configurations: the summary names fewer of them per
    verdict until it fits the 4,000 characters finish_round takes, and never counts the rest
    (a count is a number no record backs)."""
    from aar.agent._scripted import SUMMARY_LIMIT, round_summary

    tasks = [f"synthetic-gap-medium-{i}" for i in "abcdefg"]
    outcomes = [
        {
            "verdict": v,
            "method": f"label_propagation-geometry.weight-0.{k}",
            "family": "x",
            "task": t,
        }
        for v in ("supported", "refuted", "inconclusive", "not_shown")
        for k in range(30)
        for t in tasks
    ]
    text = round_summary(outcomes, tasks, [], None)
    assert len(text) <= SUMMARY_LIMIT < 4000
    assert "other configurations (see the findings)" in text
    assert "label_propagation-geometry.weight-0.0 on" in text
