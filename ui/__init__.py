"""The Qt desktop app: a thin view over the headless ``workbench`` core (edits go through its commands)."""

from ui.refcount_guard import pin_singletons

pin_singletons()  # before any Qt paint: see refcount_guard (PySide6 drops references to None)
