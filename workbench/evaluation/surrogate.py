"""Explaining a model by a shallow decision tree fitted to the model's OWN predictions.

The tree reads "raw-ish" features: scaling is undone (so thresholds are in the user's units), one-hot
columns become ``region = south`` tests, ordinal codes become ``region in {a, b}``, missing-value flags
become ``income is missing``. Fidelity says how often the tree agrees with the model on held-out rows
(accuracy for classes, R² for numbers); rules are only as trustworthy as that figure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from workbench.errors import UserError
from workbench.evaluation.align import raw_outputs, split_arrays, to_predictions
from workbench.tabular.chain import MISSING, OTHER, UNSEEN


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def _label(value: Any) -> str:
    return {UNSEEN: "(unseen value)", OTHER: "(other value)", MISSING: "(missing)"}.get(
        str(value), str(value)
    )


def describe_features(chain: Sequence[dict], feature_names: Sequence[str]) -> list[dict[str, Any]]:
    """How to read each model-input feature: kind (numeric, onehot, ordinal, missing_flag), column, extra."""
    info: list[dict[str, Any]] = [{"kind": "numeric", "column": name} for name in feature_names]
    index = {name: i for i, name in enumerate(feature_names)}
    for step in chain:
        if step["op"] == "onehot":
            for enc in step["encodings"]:
                column = enc["column"]
                values = list(enc["categories"]) + ([OTHER] if enc.get("other_values") else []) + [UNSEEN]
                for value in values:
                    name = f"{column}={value}"
                    if name in index:
                        info[index[name]] = {"kind": "onehot", "column": column, "value": value}
        elif step["op"] == "ordinal":
            for enc in step["encodings"]:
                if enc["column"] in index:
                    info[index[enc["column"]]] = {"kind": "ordinal", "column": enc["column"],
                                                  "categories": list(enc["categories"])}  # fmt: skip
        elif step["op"] == "impute":
            for column in step.get("indicators", []):
                name = f"{column}__missing"
                if name in index:
                    info[index[name]] = {"kind": "missing_flag", "column": column}
    return info


def unscale(chain: Sequence[dict], feature_names: Sequence[str], x: np.ndarray) -> np.ndarray:
    """Undo the scale steps (last first) so numeric features are back in the units of the input table."""
    out = np.asarray(x, dtype=np.float64).copy()
    index = {name: i for i, name in enumerate(feature_names)}
    for step in reversed(list(chain)):
        if step["op"] != "scale":
            continue
        for column, center, scale in zip(step["columns"], step["center"], step["scale"], strict=True):
            if column in index:
                out[:, index[column]] = out[:, index[column]] * scale + center
    return out


def _condition(feature: dict[str, Any], threshold: float, left: bool) -> dict[str, Any]:
    """One tree split as a readable condition; ``left`` is the ``value <= threshold`` branch."""
    column, kind = feature["column"], feature["kind"]
    if kind == "onehot":
        return {"column": column, "op": "!=" if left else "=", "value": feature["value"]}
    if kind == "missing_flag":
        return {"column": column, "op": "is", "value": "present" if left else "missing"}
    if kind == "ordinal":
        cats = feature["categories"]
        cut = int(np.floor(threshold)) + 1  # codes 0..cut-1 go left; -1 (unseen) too
        chosen = cats[:cut] if left else cats[cut:]
        if left:
            chosen = [*chosen, UNSEEN]
        return {"column": column, "op": "in", "value": chosen}
    return {"column": column, "op": "<=" if left else ">", "value": float(threshold)}


def _simplify(conditions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Keep the tightest bound per column and direction; an '=' makes '!=' tests on that column redundant."""
    out: list[dict[str, Any]] = []
    for cond in conditions:
        same = [c for c in out if c["column"] == cond["column"] and c["op"] == cond["op"]]
        if cond["op"] in ("<=", ">") and same:
            keep = min if cond["op"] == "<=" else max
            same[0]["value"] = keep(same[0]["value"], cond["value"])
            continue
        if cond["op"] == "in" and same:
            same[0]["value"] = [v for v in same[0]["value"] if v in cond["value"]]
            continue
        out.append(dict(cond))
    equal = {c["column"] for c in out if c["op"] == "="}
    return [c for c in out if not (c["op"] == "!=" and c["column"] in equal)]


def condition_text(cond: dict[str, Any]) -> str:
    value = cond["value"]
    if cond["op"] in ("<=", ">"):
        return f"{cond['column']} {cond['op']} {_fmt(value)}"
    if cond["op"] == "in":
        return f"{cond['column']} in {{{', '.join(_label(v) for v in value)}}}"
    if cond["op"] == "is":
        return f"{cond['column']} is {value}"
    return f"{cond['column']} {cond['op']} {_label(value)}"


@dataclass
class SurrogateReport:
    task: str
    depth: int
    fidelity: float  # on the held-out split: accuracy vs the model's labels, or R² vs its values
    fidelity_train: float
    fidelity_name: str
    rules: list[dict[str, Any]] = field(default_factory=list)
    n_leaves: int = 0

    @property
    def text(self) -> list[str]:
        return [rule["text"] for rule in self.rules]

    @property
    def metrics(self) -> dict[str, Any]:
        return {"surrogate_fidelity": self.fidelity, "surrogate_leaves": self.n_leaves}

    def to_json(self) -> dict[str, Any]:
        return {"task": self.task, "depth": self.depth, "fidelity": self.fidelity,
                "fidelity_train": self.fidelity_train, "fidelity_name": self.fidelity_name,
                "n_leaves": self.n_leaves, "rules": self.rules}  # fmt: skip


def _rules(tree: Any, features: list[dict[str, Any]], task: str, classes: list[Any]) -> list[dict[str, Any]]:
    t = tree.tree_
    rules: list[dict[str, Any]] = []

    def walk(node: int, path: list[dict[str, Any]]) -> None:
        if t.children_left[node] == -1:
            counts = t.value[node][0]
            n = int(t.n_node_samples[node])
            conditions = _simplify(path)
            if task == "classification":
                k = int(np.argmax(counts))
                share = float(counts[k] / counts.sum()) if counts.sum() else 0.0
                outcome, tail = classes[int(tree.classes_[k])], f"(share {share:.2f}, {n} rows)"
            else:
                outcome, share, tail = float(counts[0]), None, f"({n} rows)"
            when = " and ".join(condition_text(c) for c in conditions) or "always"
            shown = _fmt(outcome) if isinstance(outcome, float) else _label(outcome)
            rules.append({"conditions": conditions, "prediction": outcome, "share": share, "rows": n,
                          "text": f"if {when} then {shown} {tail}"})  # fmt: skip
            return
        feature, threshold = features[int(t.feature[node])], float(t.threshold[node])
        walk(int(t.children_left[node]), [*path, _condition(feature, threshold, True)])
        walk(int(t.children_right[node]), [*path, _condition(feature, threshold, False)])

    walk(0, [])
    rules.sort(key=lambda r: -r["rows"])
    return rules


def fit_surrogate(
    model: Any, dataset: Any, max_depth: int = 3, min_leaf_fraction: float = 0.02, seed: int = 0
) -> tuple[SurrogateReport, Any]:
    """Fit the tree on the training split's model predictions; fidelity on the test split (or validation)."""
    from sklearn import metrics as M  # noqa: N812
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

    if model.window:
        raise UserError("evaluate.surrogate explains models on plain tables; this model reads time windows")
    arrays = split_arrays(model, dataset)
    held = "test" if len(arrays["x_test"]) else "val"
    chain, names = model.chain or [], list(model.feature_names)
    features = describe_features(chain, names)
    x_fit, x_held = (unscale(chain, names, arrays[f"x_{s}"]) for s in ("train", held))
    if len(x_fit) < 2:
        raise UserError("evaluate.surrogate: the training split needs at least 2 rows")
    y_fit = to_predictions(raw_outputs(model, arrays["x_train"]), model.head)[0]
    y_held = to_predictions(raw_outputs(model, arrays[f"x_{held}"]), model.head)[0]
    leaf = max(1, int(round(min_leaf_fraction * len(x_fit))))
    if model.task == "classification":
        tree = DecisionTreeClassifier(max_depth=max_depth, min_samples_leaf=leaf, random_state=seed)
        tree.fit(x_fit, y_fit)
        fidelity_train = float(M.accuracy_score(y_fit, tree.predict(x_fit)))
        fidelity = float(M.accuracy_score(y_held, tree.predict(x_held))) if len(x_held) else float("nan")
        name = "agreement with the model's class"
    else:
        tree = DecisionTreeRegressor(max_depth=max_depth, min_samples_leaf=leaf, random_state=seed)
        tree.fit(x_fit, y_fit)
        fidelity_train = float(M.r2_score(y_fit, tree.predict(x_fit)))
        fidelity = float(M.r2_score(y_held, tree.predict(x_held))) if len(x_held) > 1 else float("nan")
        name = "R² against the model's values"
    rules = _rules(tree, features, model.task, list(model.classes or []))
    report = SurrogateReport(model.task, int(tree.get_depth()), fidelity, fidelity_train, name, rules,
                             int(tree.get_n_leaves()))  # fmt: skip
    return report, tree
