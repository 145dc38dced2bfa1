"""Surrogate tree: fidelity is reported, and its rules parse and mean what they say on the raw table."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from test_export_models import mixed_frame, regressor, run_node, split, train

from workbench.errors import UserError
from workbench.evaluation.surrogate import fit_surrogate
from workbench.nodes.evaluate import EvaluateSurrogate
from workbench.tabular.chain import UNSEEN, as_text

RULE = re.compile(
    r"^if (?P<when>.+) then (?P<then>.+?) \((?:share (?P<share>[0-9.]+), )?(?P<rows>\d+) rows\)$"
)
CONDITION = re.compile(r"^(?P<column>\w+) (?P<op><=|>|=|!=|in|is) (?P<value>.+)$")


@pytest.fixture(scope="module")
def explained() -> tuple:
    frame = mixed_frame(600)
    frame["age"] = frame["age"].fillna(40.0)  # raw values equal what the tree saw (no imputation needed)
    dataset = split(frame, "label")
    model = train(dataset)
    report, tree = fit_surrogate(model, dataset, max_depth=3)
    return model, dataset, report, tree


def test_fidelity_is_reported(explained: tuple) -> None:
    model, dataset, report, _ = explained
    assert 0.8 < report.fidelity <= 1.0 and 0.8 < report.fidelity_train <= 1.0
    assert report.metrics == {"surrogate_fidelity": report.fidelity, "surrogate_leaves": report.n_leaves}
    assert report.depth <= 3 and 2 <= report.n_leaves <= 8
    assert sum(rule["rows"] for rule in report.rules) == len(dataset.train)


def test_rules_parse_and_use_original_names_and_values(explained: tuple) -> None:
    model, dataset, report, _ = explained
    inputs = set(dataset.features)
    for text in report.text:
        match = RULE.match(text)
        assert match, text
        assert match["then"] in ("yes", "no")
        for part in match["when"].split(" and "):
            cond = CONDITION.match(part)
            assert cond and cond["column"] in inputs, part
            if cond["op"] in ("<=", ">"):
                float(cond["value"])
            if cond["op"] in ("=", "!="):
                assert cond["value"] in ("north", "south", "east", "(unseen value)")
    joined = "\n".join(report.text)
    assert re.search(r"income (<=|>) [0-9.]+", joined)  # thresholds in the table's units, not standardised
    assert "region = south" in joined or "region != south" in joined


def _holds(cond: dict, row: dict) -> bool:
    value = row[cond["column"]]
    op = cond["op"]
    if op == "<=":
        return value <= cond["value"]
    if op == ">":
        return value > cond["value"]
    if op == "=":
        return value == cond["value"]
    if op == "!=":
        return value != cond["value"]
    if op == "in":
        return as_text(pd.Series([value]))[0] in set(cond["value"]) - {UNSEEN}
    raise AssertionError(op)


def test_rules_reproduce_the_tree_on_raw_rows(explained: tuple) -> None:
    """Each raw training row satisfies exactly one rule, and that rule's outcome is the tree's prediction."""
    model, dataset, report, tree = explained
    from workbench.evaluation.align import split_arrays
    from workbench.evaluation.surrogate import unscale

    x = unscale(model.chain, model.feature_names, split_arrays(model, dataset)["x_train"])
    predicted = [model.classes[int(i)] for i in tree.predict(x)]
    rows = dataset.train.to_dict("records")
    for row, expected in zip(rows, predicted, strict=True):
        matching = [rule for rule in report.rules if all(_holds(c, row) for c in rule["conditions"])]
        assert len(matching) == 1, row
        assert matching[0]["prediction"] == expected


def test_regression_fidelity_and_node() -> None:
    model, dataset, _ = regressor()
    out = run_node(EvaluateSurrogate, {"model": model, "dataset": dataset}, {"max_depth": 4})
    report = out["report"]
    assert report.fidelity_name.startswith("R²") and report.fidelity > 0.7
    assert list(out["rules"].columns) == ["rule", "prediction", "rows", "share"]
    assert all(RULE.match(text) for text in out["rules"]["rule"])
    assert np.isfinite(out["rules"]["prediction"].astype(float)).all()


def test_windowed_models_are_refused() -> None:
    from test_export_models import sequence_model

    model, dataset, _ = sequence_model()
    with pytest.raises(UserError, match="time windows"):
        fit_surrogate(model, dataset)
