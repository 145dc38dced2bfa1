"""Run history (an SQLite index over the run folders) and hyperparameter sweeps (Optuna)."""
