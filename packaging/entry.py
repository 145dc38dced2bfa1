"""Frozen-app entry point: the same launcher as the ``workbench`` console script."""

import multiprocessing
import sys

from ui.launcher import main

if __name__ == "__main__":
    multiprocessing.freeze_support()
    sys.exit(main())
