"""The app's version, in a module that imports nothing, so any layer can name it (pyproject reads it too)."""

__version__ = "0.1.0"
