"""Seeded generator of the scenario datasets in this folder (see README.md for each file's structure).

Run from the repository root:  .venv/bin/python resources/datasets/generate.py
The output is deterministic (fixed seeds), so re-running reproduces the committed files byte for byte.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent


def credit_risk(rows: int = 3000, seed: int = 11) -> pd.DataFrame:
    """Loan applicants and whether they defaulted (~12 %): a class-imbalanced binary target."""
    rng = np.random.default_rng(seed)
    age = np.clip(rng.normal(41, 12, rows), 19, 80).round()
    employment_type = rng.choice(
        ["salaried", "self-employed", "unemployed", "retired"], rows, p=[0.66, 0.18, 0.06, 0.10]
    )
    employment_type[age > 66] = "retired"
    years_cap = np.maximum(age - 18, 0)
    employment_years = np.minimum(rng.gamma(2.0, 4.0, rows), years_cap).round(1)
    employment_years[employment_type == "unemployed"] = 0.0
    base_income = {"salaried": 52000, "self-employed": 58000, "unemployed": 9000, "retired": 26000}
    income = np.array([base_income[e] for e in employment_type]) * rng.lognormal(0, 0.45, rows)
    income *= 1 + 0.012 * np.minimum(employment_years, 25)
    income = income.round(-2)
    home = rng.choice(["RENT", "MORTGAGE", "OWN"], rows, p=[0.42, 0.43, 0.15])
    purpose = rng.choice(
        ["debt_consolidation", "car", "home_improvement", "education", "business", "medical", "other"],
        rows,
        p=[0.34, 0.18, 0.14, 0.09, 0.09, 0.06, 0.10],
    )
    loan_amount = np.clip(income * rng.uniform(0.05, 0.6, rows), 1000, 60000).round(-2)
    loan_term = rng.choice([36, 60], rows, p=[0.7, 0.3])
    credit_score = np.clip(rng.normal(680, 60, rows) + 0.8 * (employment_years - 8), 420, 850).round()
    open_accounts = rng.poisson(6, rows)
    late_payments = rng.poisson(np.clip((700 - credit_score) / 80, 0.05, None))
    debt_to_income = np.clip(
        rng.beta(2, 5, rows) * 0.9 + loan_amount / np.maximum(income, 1) * 0.3, 0, 1.5
    ).round(3)
    interest_rate = np.clip(
        24 - (credit_score - 500) * 0.045 + rng.normal(0, 1.2, rows) + (loan_term == 60) * 1.5, 4, 30
    ).round(2)
    has_guarantor = rng.choice(["yes", "no"], rows, p=[0.15, 0.85])
    logit = (
        -3.1
        - 0.018 * (credit_score - 680)
        + 2.6 * (debt_to_income - 0.3)
        + 0.55 * late_payments
        + 0.09 * (interest_rate - 13)
        - 0.000012 * (income - 50000)
        + 0.8 * (employment_type == "unemployed")
        + 0.35 * (purpose == "business")
        - 0.6 * (has_guarantor == "yes")
        + 0.25 * (home == "RENT")
        - 0.015 * (age - 40)
    )
    default = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)
    frame = pd.DataFrame(
        {
            "applicant_id": np.arange(100001, 100001 + rows),
            "age": age.astype(int),
            "employment_type": employment_type,
            "employment_years": employment_years,
            "annual_income": income,
            "home_ownership": home,
            "loan_purpose": purpose,
            "loan_amount": loan_amount,
            "loan_term_months": loan_term,
            "interest_rate": interest_rate,
            "credit_score": credit_score.astype(int),
            "open_accounts": open_accounts,
            "late_payments_2y": late_payments,
            "debt_to_income": debt_to_income,
            "has_guarantor": has_guarantor,
            "default": default,
        }
    )
    for column, share in (
        ("annual_income", 0.04),
        ("employment_years", 0.06),
        ("credit_score", 0.03),
        ("home_ownership", 0.02),
    ):
        frame[column] = frame[column].astype(object if column == "home_ownership" else float)
        frame.loc[rng.random(rows) < share, column] = np.nan
    return frame


def daily_prices(days: int = 1500, seed: int = 23) -> pd.DataFrame:
    """A synthetic stock: business days, momentum in returns (AR(1) 0.2), volatility clustering, volume."""
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range("2019-01-02", periods=days)
    vol = np.empty(days)
    ret = np.empty(days)
    vol[0], ret[0] = 0.012, 0.0
    for t in range(1, days):
        vol[t] = np.sqrt(0.000004 + 0.08 * ret[t - 1] ** 2 + 0.9 * vol[t - 1] ** 2)
        ret[t] = 0.0003 + 0.2 * ret[t - 1] + vol[t] * rng.standard_normal()
    close = 50 * np.exp(np.cumsum(ret))
    open_ = close * np.exp(-ret * 0.4 + rng.normal(0, 0.002, days))
    high = np.maximum(open_, close) * (1 + np.abs(rng.normal(0, vol * 0.6)))
    low = np.minimum(open_, close) * (1 - np.abs(rng.normal(0, vol * 0.6)))
    volume = (1_200_000 * np.exp(8 * np.abs(ret) + rng.normal(0, 0.25, days))).round(-2)
    frame = pd.DataFrame(
        {
            "date": dates.strftime("%Y-%m-%d"),
            "open": open_.round(2),
            "high": high.round(2),
            "low": low.round(2),
            "close": close.round(2),
            "volume": volume.astype(np.int64),
        }
    )
    frame["return_1d"] = frame["close"].pct_change().round(5)
    nxt = frame["close"].shift(-1)
    frame["next_close"] = nxt
    frame["next_day_up"] = np.where(nxt.isna(), np.nan, (nxt > frame["close"]).astype(float))
    frame = frame.iloc[1:-1].reset_index(drop=True)
    frame["next_day_up"] = frame["next_day_up"].astype(int)
    return frame


def breast_cancer() -> pd.DataFrame:
    """scikit-learn's bundled copy of the UCI Wisconsin Diagnostic Breast Cancer data, labels as words."""
    from sklearn.datasets import load_breast_cancer

    bunch = load_breast_cancer(as_frame=True)
    frame = bunch.frame.copy()
    frame.columns = [c.replace(" ", "_") for c in frame.columns]
    frame["diagnosis"] = np.where(bunch.target == 0, "malignant", "benign")
    frame = frame.drop(columns=["target"])
    return frame.round(5)


def digits() -> pd.DataFrame:
    """scikit-learn's bundled UCI handwritten digits: 8x8 images as 64 pixel columns (0-16), label `digit`."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    frame = pd.DataFrame(bunch.data.astype(int), columns=[f"px{r}{c}" for r in range(8) for c in range(8)])
    frame["digit"] = bunch.target.astype(int)
    return frame


def student_performance(rows: int = 1000, seed: int = 37) -> pd.DataFrame:
    """Students' habits and background and their final grade (0-100) plus pass/fail at 50."""
    rng = np.random.default_rng(seed)
    gender = rng.choice(["female", "male"], rows)
    age = rng.integers(15, 20, rows)
    parent_edu = rng.choice(
        ["none", "primary", "secondary", "bachelor", "master"], rows, p=[0.05, 0.15, 0.4, 0.28, 0.12]
    )
    edu_level = (
        pd.Series(parent_edu)
        .map({"none": 0, "primary": 1, "secondary": 2, "bachelor": 3, "master": 4})
        .to_numpy()
    )
    study_hours = np.clip(rng.gamma(3, 2.2, rows) + 0.6 * edu_level, 0, 40).round(1)
    attendance = np.clip(rng.normal(88, 8, rows), 40, 100).round(1)
    absences = np.clip(((100 - attendance) / 2.5 + rng.normal(0, 1.5, rows)).round(), 0, None).astype(int)
    sleep = np.clip(rng.normal(7.2, 1.0, rows), 4, 10).round(1)
    internet = rng.choice(["yes", "no"], rows, p=[0.85, 0.15])
    tutoring = rng.choice(["yes", "no"], rows, p=[0.25, 0.75])
    activities = rng.choice(["yes", "no"], rows, p=[0.5, 0.5])
    previous = np.clip(rng.normal(64, 13, rows) + 1.2 * edu_level, 10, 100).round()
    grade = (
        12
        + 0.55 * previous
        + 1.1 * study_hours
        + 0.18 * (attendance - 85)
        - 1.6 * np.abs(sleep - 7.5)
        + 4.0 * (tutoring == "yes")
        + 2.0 * (internet == "yes")
        + 1.0 * edu_level
        + rng.normal(0, 5.5, rows)
    )
    grade = np.clip(grade, 0, 100).round()
    frame = pd.DataFrame(
        {
            "student_id": [f"S{i:04d}" for i in range(1, rows + 1)],
            "gender": gender,
            "age": age,
            "parental_education": parent_edu,
            "study_hours_week": study_hours,
            "attendance_pct": attendance,
            "absences": absences,
            "sleep_hours": sleep,
            "internet_access": internet,
            "tutoring": tutoring,
            "extracurricular": activities,
            "previous_grade": previous,
            "final_grade": grade,
            "passed": np.where(grade >= 50, "pass", "fail"),
        }
    )
    for column, share in (("study_hours_week", 0.05), ("sleep_hours", 0.04), ("previous_grade", 0.03)):
        frame.loc[rng.random(rows) < share, column] = np.nan
    return frame


def digits_images(folder: Path) -> int:
    """The same 1,797 digits as 8x8 grey PNG files, one folder per digit (0-16 counts scaled to 0-255)."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    pixels = np.round(bunch.images * (255.0 / 16.0)).astype(np.uint8)
    return _write_pngs(folder, pixels, [str(int(t)) for t in bunch.target])


def lfw_faces(folder: Path) -> int:
    """scikit-image's lfw_subset: 100 faces and 100 non-faces, 25x25 grey PNG files in faces/ and other/.

    Only the data file of the scikit-image package is read (its imports are not needed): install it with
    `pip install --no-deps scikit-image` (or set SKIMAGE_LFW to the path of lfw_subset.npy)."""
    import importlib.util
    import os

    source = os.environ.get("SKIMAGE_LFW")
    if not source:
        spec = importlib.util.find_spec("skimage")
        if spec is None or spec.origin is None:
            raise SystemExit("lfw_subset: pip install --no-deps scikit-image (only its data file is read)")
        source = str(Path(spec.origin).parent / "data" / "lfw_subset.npy")
    images = np.load(source, allow_pickle=False)
    pixels = np.round(np.clip(images, 0.0, 1.0) * 255.0).astype(np.uint8)
    return _write_pngs(folder, pixels, ["face"] * 100 + ["other"] * (len(pixels) - 100))


def _write_pngs(folder: Path, pixels: np.ndarray, labels: list[str]) -> int:
    """One PNG per image in folder/<label>/<index>.png; stale PNGs of an earlier run are removed."""
    from PIL import Image

    for old in folder.glob("*/*.png"):
        old.unlink()
    for index, (image, label) in enumerate(zip(pixels, labels, strict=True)):
        (folder / label).mkdir(parents=True, exist_ok=True)
        Image.fromarray(image, mode="L").save(folder / label / f"{index:04d}.png", optimize=True)
    return len(labels)


IMAGE_SETS = {"digits_images": digits_images, "lfw_faces": lfw_faces}

DATASETS = {
    "credit_risk.csv": credit_risk,
    "stock_prices.csv": daily_prices,
    "breast_cancer.csv": breast_cancer,
    "student_performance.csv": student_performance,
    "digits.csv": digits,
}


def main() -> None:
    for name, build in DATASETS.items():
        frame = build()
        path = HERE / name
        frame.to_csv(path, index=False, lineterminator="\n")
        print(f"{name}: {len(frame)} rows x {frame.shape[1]} columns, {path.stat().st_size / 1024:.0f} KiB")
    for name, build in IMAGE_SETS.items():
        count = build(HERE / name)
        size = sum(f.stat().st_size for f in (HERE / name).glob("*/*.png"))
        print(f"{name}/: {count} PNG files, {size / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
