"""Built-in datasets that work offline: scikit-learn's bundled sets and the scenario files in resources/datasets."""

from __future__ import annotations

import numpy as np
import pandas as pd

from workbench import paths
from workbench.errors import UserError

# name -> (title, suggested target)
SKLEARN = {
    "iris": ("Iris flowers (150 rows, 3 species)", "species"),
    "wine": ("Wine cultivars (178 rows, 3 classes)", "cultivar"),
    "breast_cancer": ("Breast cancer diagnosis (569 rows, 2 classes)", "diagnosis"),
    "diabetes": ("Diabetes progression (442 rows, regression)", "progression"),
    "digits": ("Handwritten digits 8x8 (1,797 rows, 10 classes)", "digit"),
}
SCENARIOS = {
    "credit_risk": ("Finance: loan default, imbalanced (3,000 rows)", "default", "credit_risk.csv"),
    "stock_prices": (
        "Finance: daily prices of a synthetic stock (1,498 days)",
        "next_close",
        "stock_prices.csv",
    ),
    "student_performance": (
        "Education: student final grades (1,000 rows)",
        "final_grade",
        "student_performance.csv",
    ),
    "breast_cancer_csv": (
        "Healthcare: breast cancer as a CSV file (569 rows)",
        "diagnosis",
        "breast_cancer.csv",
    ),
}
NAMES = tuple(SKLEARN) + tuple(SCENARIOS)


def suggested_target(name: str) -> str:
    if name in SKLEARN:
        return SKLEARN[name][1]
    if name in SCENARIOS:
        return SCENARIOS[name][1]
    raise UserError(f"unknown sample dataset {name!r}; choose one of {', '.join(NAMES)}")


def load_sample(name: str) -> pd.DataFrame:
    """The named sample as a DataFrame with a readable target column (see ``suggested_target``)."""
    if name in SCENARIOS:
        from workbench.tabular.io import read_table

        path = paths.resource("datasets", SCENARIOS[name][2])
        if not path.exists():
            raise UserError(f"sample file {path} is missing; run resources/datasets/generate.py")
        return read_table(path)
    if name not in SKLEARN:
        raise UserError(f"unknown sample dataset {name!r}; choose one of {', '.join(NAMES)}")
    from sklearn import datasets

    loader = {
        "iris": datasets.load_iris,
        "wine": datasets.load_wine,
        "breast_cancer": datasets.load_breast_cancer,
        "diabetes": datasets.load_diabetes,
        "digits": datasets.load_digits,
    }[name]
    bunch = loader(as_frame=True)
    frame = bunch.frame.copy()
    frame.columns = [str(c).replace(" ", "_").replace("(", "").replace(")", "") for c in frame.columns]
    target = SKLEARN[name][1]
    values = bunch.target.to_numpy()
    frame = frame.drop(columns=["target"])
    if name == "diabetes":
        frame[target] = values.astype(np.float64)
    elif name in ("iris", "wine", "breast_cancer"):
        names = np.asarray(bunch.target_names)
        frame[target] = names[values].astype(str)
        if name == "wine":
            frame[target] = pd.Series(names[values]).str.replace("class_", "cultivar_").to_numpy()
    else:
        frame[target] = values.astype(np.int64)
    return frame
