"""Training-split augmentation: Gaussian noise, mixup and minority oversampling. Never applied at prediction
time, so nothing is added to the chain; the Dataset records what was done in ``augmentations``."""

from __future__ import annotations

import numpy as np
import pandas as pd

from workbench.errors import UserError
from workbench.tabular.dataset import CLASSIFICATION, Dataset
from workbench.tabular.tensors import check_numeric

METHODS = ("noise", "mixup", "oversample")


def _continuous(train: pd.DataFrame, features: list[str]) -> list[str]:
    """Numeric features that are not 0/1 flags (one-hot, indicators): noise on those only."""
    out = []
    for column in features:
        values = train[column].to_numpy(dtype=np.float64, na_value=np.nan)
        if not np.isin(values[~np.isnan(values)], (0.0, 1.0)).all():
            out.append(column)
    return out


def augment(
    dataset: Dataset,
    method: str,
    amount: float = 1.0,
    noise_std: float = 0.1,
    alpha: float = 0.2,
    seed: int = 0,
) -> tuple[Dataset, int]:
    """A new Dataset whose training split has extra rows; returns it and the number of rows added.

    noise: copies of random rows with N(0, noise_std x column std) added to continuous features.
    mixup: convex blends of random row pairs (lambda ~ Beta(alpha, alpha)); the label is the dominant row's
    class for classification, the blended value for regression.
    oversample: minority classes resampled with replacement up to ``amount`` x the majority count.
    """
    if method not in METHODS:
        raise UserError(f"prep.augment: unknown method {method!r}; use {', '.join(METHODS)}")
    if dataset.window:
        raise UserError("prep.augment: place it before prep.window")
    train = dataset.train
    rng = np.random.default_rng(seed)
    if method == "oversample":
        if dataset.task != CLASSIFICATION:
            raise UserError("prep.augment: oversampling needs a classification target")
        counts = train[dataset.target].value_counts()
        goal = int(round(counts.max() * min(amount, 1.0)))
        picks = []
        for label, count in counts.items():
            if count < goal:
                members = np.flatnonzero((train[dataset.target] == label).to_numpy())
                picks.append(rng.choice(members, goal - count, replace=True))
        extra = train.iloc[np.concatenate(picks)] if picks else train.iloc[:0]
    else:
        check_numeric(dataset)
        n_new = int(round(len(train) * amount))
        if n_new <= 0 or len(train) == 0:
            return dataset.replace(), 0
        first = rng.integers(0, len(train), n_new)
        extra = train.iloc[first].copy()
        if method == "noise":
            for column in _continuous(train, dataset.features):
                spread = float(np.nanstd(train[column].to_numpy(dtype=np.float64, na_value=np.nan))) or 1.0
                extra[column] = extra[column].to_numpy(dtype=np.float64) + rng.normal(
                    0, noise_std * spread, n_new
                )
        else:
            second = rng.integers(0, len(train), n_new)
            lam = rng.beta(alpha, alpha, n_new)
            other = train.iloc[second]
            for column in dataset.features:
                a = extra[column].to_numpy(dtype=np.float64, na_value=np.nan)
                b = other[column].to_numpy(dtype=np.float64, na_value=np.nan)
                extra[column] = lam * a + (1 - lam) * b
            if dataset.task == CLASSIFICATION:
                labels = np.where(
                    lam >= 0.5, extra[dataset.target].to_numpy(), other[dataset.target].to_numpy()
                )
                extra[dataset.target] = labels
            else:
                a = extra[dataset.target].to_numpy(dtype=np.float64)
                extra[dataset.target] = lam * a + (1 - lam) * other[dataset.target].to_numpy(dtype=np.float64)
    added = len(extra)
    new_train = pd.concat([train, extra], ignore_index=True) if added else train
    record = {"method": method, "rows_added": added, "amount": amount, "seed": seed}
    return dataset.replace(train=new_train, augmentations=[*dataset.augmentations, record]), added
