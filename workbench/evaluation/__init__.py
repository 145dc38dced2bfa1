"""Evaluation and explainability: scikit-learn metrics, permutation importance, surrogate trees."""
