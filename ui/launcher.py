"""The ``workbench`` entry point: subcommands go to the headless CLI, everything else opens the desktop app.

It lives in ``ui`` (not ``workbench``) so the core never imports the GUI; it imports Qt only when the app is
actually opened, so ``workbench run`` starts as fast as the headless CLI.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

CLI_COMMANDS = {"run", "validate", "nodes", "predict", "export", "-h", "--help", "--version"}


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in CLI_COMMANDS:
        from workbench.cli import main as cli_main

        return cli_main(args)
    try:
        from ui.app import main as app_main
    except ImportError as exc:
        print(
            f"workbench: the desktop app cannot start ({exc}); headless commands still work: "
            "workbench run PIPELINE",
            file=sys.stderr,
        )
        return 1
    return app_main(args)


def run() -> None:
    sys.exit(main())


if __name__ == "__main__":
    run()
