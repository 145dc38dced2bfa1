"""Integrated gradients: how much each input moved a model's output for one input, for pictures and tables.

Own implementation (Sundararajan et al., 2017), so the app needs no explainability library (captum, which the
tests compare against, imports matplotlib eagerly and adds ~100 MB): attributions = (x − baseline) × the
average gradient of the explained output along the straight path from the baseline to x, by the midpoint
rule (captum's ``riemann_middle``). Completeness — the attributions add up to f(x) − f(baseline) — holds up to
the integration error, exactly for a linear model; ``completeness_gap`` measures how far off it is.

For a table row (``RowExplainer``) the baseline is the **training mean row in model-input space**: the mean
of every prepared feature over the training split (0 for standardised numbers, the category frequencies for
a one-hot block). An attribution then answers "how much did this column move the output away from what the
model says for an average training row". Attributions of the model-input columns derived from one original
column (its one-hot block, missing flag, date parts, every time step of a window) are summed back to that
column, so the user sees the columns of their own table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from workbench.errors import UserError

TABLE_STEPS = 32  # one batched forward/backward per row; the completeness gap says when it is too few


def class_output(outputs: Any, target: int, head: str) -> Any:
    """The scalar that stands for ``target``: its logit, ± the one logit of a two-class model, or the value."""
    if head == "binary":
        return outputs[:, 0] if target == 1 else -outputs[:, 0]
    return outputs[:, target]


def _device(module: Any) -> Any:
    import torch

    param = next(module.parameters(), None)
    return param.device if param is not None else torch.device("cpu")


def integrated_gradients(
    module: Any,
    x: np.ndarray,
    target: int,
    head: str = "multiclass",
    baseline: np.ndarray | None = None,
    steps: int = 64,
    batch: int = 32,
) -> np.ndarray:
    """Attributions with the shape of one input ``x`` (no batch axis), float64; baseline None = zeros."""
    import torch

    if steps < 1:
        raise UserError(f"integrated gradients: steps must be at least 1, not {steps}")
    was_training = module.training
    module.eval()
    device = _device(module)
    point = torch.as_tensor(np.asarray(x, dtype=np.float32), device=device)
    start = (
        torch.zeros_like(point)
        if baseline is None
        else torch.as_tensor(np.asarray(baseline, dtype=np.float32), device=device)
    )
    alphas = (torch.arange(steps, dtype=torch.float32, device=device) + 0.5) / steps
    total = torch.zeros_like(point)
    try:
        for i in range(0, steps, batch):
            a = alphas[i : i + batch].view(-1, *([1] * point.dim()))
            path = (start + a * (point - start)).requires_grad_(True)
            value = class_output(module(path).float(), int(target), head).sum()
            (grad,) = torch.autograd.grad(value, path)
            total += grad.sum(dim=0)
    finally:
        module.train(was_training)
    return ((point - start) * total / steps).double().cpu().numpy()


def output_at(module: Any, x: np.ndarray, target: int, head: str) -> float:
    """The explained output f(x) for one input (no batch axis)."""
    import torch

    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            point = torch.as_tensor(np.asarray(x, dtype=np.float32), device=_device(module))[None]
            return float(class_output(module(point).float(), int(target), head)[0])
    finally:
        module.train(was_training)


def completeness_gap(
    module: Any,
    x: np.ndarray,
    attributions: np.ndarray,
    target: int,
    head: str = "multiclass",
    baseline: np.ndarray | None = None,
) -> float:
    """|sum(attributions) − (f(x) − f(baseline))|: how far the integration is from exact."""
    start = np.zeros_like(np.asarray(x, dtype=np.float32)) if baseline is None else baseline
    delta = output_at(module, x, target, head) - output_at(module, start, target, head)
    return float(abs(float(np.sum(attributions)) - delta))


# -- one table row ------------------------------------------------------------------------------------------


@dataclass
class RowExplanation:
    """Per original column, how much it moved the explained output of one row away from the mean row's."""

    row: int  # 0-based position in the split
    split: str
    explained: str  # what the numbers are in, e.g. "the logit of 'yes'" or "the predicted 'price'"
    prediction: str  # e.g. "yes (p = 0.93)" or "12.4"
    actual: str
    columns: list[str] = field(default_factory=list)  # original columns, in the table's order
    attributions: list[float] = field(default_factory=list)
    values: list[str] = field(default_factory=list)  # the row's own values as text ("" when not kept)
    output: float = 0.0  # f(x)
    baseline_output: float = 0.0  # f(training mean row)
    gap: float = 0.0  # |sum(attributions) − (f(x) − f(baseline))|
    steps: int = TABLE_STEPS

    @property
    def delta(self) -> float:
        return self.output - self.baseline_output

    def completeness_line(self) -> str:
        """One line a user can check the bars against: the sum, the difference it should equal, the gap."""
        total = float(sum(self.attributions))
        share = self.gap / abs(self.delta) if abs(self.delta) > 1e-12 else 0.0
        return (
            f"The bars add up to {total:+.4g}; {self.explained} is {self.output:.4g} for this row and "
            f"{self.baseline_output:.4g} for the training mean row (difference {self.delta:+.4g}, "
            f"gap {self.gap:.2g} = {share:.1%}, {self.steps} steps)"
        )


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "missing"
    if isinstance(value, float | np.floating):
        return f"{float(value):.4g}"
    return str(value)


class RowExplainer:
    """Prepares one split of a dataset as the model reads it, once; ``explain(row)`` is then one IG pass."""

    def __init__(self, model: Any, dataset: Any, split: str = "test") -> None:
        from workbench.evaluation.align import split_arrays
        from workbench.evaluation.importance import feature_groups

        if getattr(model, "images", None):
            raise UserError("explain a row: this model reads pictures; explain it in the Mistakes gallery")
        arrays = split_arrays(model, dataset)
        self.model, self.dataset, self.split = model, dataset, split
        self.x = arrays[f"x_{split}"]
        self.y = arrays[f"y_{split}"]
        train = arrays["x_train"]
        if len(train) == 0:
            raise UserError(
                "explain a row: the training split is empty, so there is no mean row to start from"
            )
        self.baseline = train.astype(np.float64).mean(axis=0).astype(np.float32)
        self.groups = feature_groups(model.chain or [], model.feature_names)
        self.raw = self._raw_rows(dataset, split)

    @property
    def n_rows(self) -> int:
        return len(self.x)

    @staticmethod
    def _raw_rows(dataset: Any, split: str) -> Any:
        """The split's rows as the user wrote them, when the dataset kept them and they line up (not windows)."""
        if getattr(dataset, "window", None):
            return None
        raw = (dataset.raw_splits() or {}).get(split) if hasattr(dataset, "raw_splits") else None
        frame = getattr(dataset, split, None)
        if raw is None or frame is None or len(raw) == 0:
            return None
        n = min(len(raw), len(frame))
        return raw if list(raw.index[:n]) == list(frame.index[:n]) else None

    def target_for(self, row: int) -> tuple[int, str, str]:
        """(output index, what it is in words, the prediction in words) for ``row``: the predicted class."""
        from workbench.evaluation.align import raw_outputs, to_predictions

        head, model = self.model.head, self.model
        raw = raw_outputs(model, self.x[row : row + 1])
        pred, proba = to_predictions(raw, head)
        if model.task != "classification":
            value = float(pred[0])
            return 0, f"the predicted {model.target!r}", f"{value:.4g}"
        classes = list(model.classes or [])
        k = int(pred[0])
        name = _text(classes[k]) if k < len(classes) else str(k)
        p = float(proba[0, k]) if proba is not None else float("nan")
        what = f"the logit of {name!r}" if head == "multiclass" else f"the log-odds of {name!r}"
        return k, what, f"{name} (p = {p:.2f})"

    def actual(self, row: int) -> str:
        value = self.y[row]
        if self.model.task == "classification":
            classes = list(self.model.classes or [])
            k = int(np.asarray(value).reshape(-1)[0])
            return _text(classes[k]) if k < len(classes) else str(k)
        return _text(float(np.asarray(value).reshape(-1)[0]))

    def explain(self, row: int, steps: int = TABLE_STEPS) -> RowExplanation:
        """Integrated gradients of the predicted class's output (or the value) from the training mean row."""
        if not 0 <= row < self.n_rows:
            raise UserError(
                f"explain a row: row {row + 1} is not in the {self.split} split (1–{self.n_rows})"
            )
        target, what, prediction = self.target_for(row)
        module, head = self.model.module, self.model.head
        x = self.x[row]
        attributions = integrated_gradients(module, x, target, head, self.baseline, steps=steps, batch=steps)
        per_feature = attributions.reshape(-1, attributions.shape[-1]).sum(axis=0)  # windows: over time
        columns = list(self.groups)
        summed = [float(per_feature[self.groups[c]].sum()) for c in columns]
        values = [""] * len(columns)
        if self.raw is not None and row < len(self.raw):
            record = self.raw.iloc[row]
            values = [_text(record[c]) if c in record.index else "" for c in columns]
        output = output_at(module, x, target, head)
        start = output_at(module, self.baseline, target, head)
        gap = abs(float(attributions.sum()) - (output - start))
        return RowExplanation(
            row=row, split=self.split, explained=what, prediction=prediction, actual=self.actual(row),
            columns=columns, attributions=summed, values=values, output=output, baseline_output=start,
            gap=gap, steps=steps,
        )  # fmt: skip
