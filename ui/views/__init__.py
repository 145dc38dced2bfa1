"""Panels around the canvas: run log now; data, training and results views plug in here (part 2)."""
