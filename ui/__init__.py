"""The Qt desktop app: a thin view over the headless ``workbench`` core (edits go through its commands)."""
