"""The ``workbench`` entry point: subcommands go to the headless CLI, everything else opens the desktop app.

It lives in ``ui`` (not ``workbench``) so the core never imports the GUI; it imports Qt only when the app is
actually opened, so ``workbench run`` starts as fast as the headless CLI.
"""

from __future__ import annotations

import difflib
import sys
from collections.abc import Sequence
from pathlib import Path

SUBCOMMANDS = ("run", "validate", "nodes", "predict", "export", "new", "runs", "sweep")
CLI_COMMANDS = {*SUBCOMMANDS, "-h", "--help", "--version"}


def unknown_word(args: Sequence[str]) -> str | None:
    """The usage error for ``workbench WORD`` when WORD is neither a subcommand nor an existing file, else None.

    Why: a typo (``workbench rnu x.json``) used to open the window, and in a script without a display it hung.
    """
    if not args or args[0].startswith("-") or args[0] in CLI_COMMANDS:
        return None
    word = args[0]
    if Path(word).expanduser().exists():
        return None
    close = difflib.get_close_matches(word, SUBCOMMANDS, n=1, cutoff=0.5)
    hint = f"did you mean 'workbench {close[0]}'?" if close else f"commands: {', '.join(SUBCOMMANDS)}"
    return f"workbench: {word!r} is neither a command nor an existing file; {hint}"


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in CLI_COMMANDS:
        from workbench.cli import main as cli_main

        return cli_main(args)
    problem = unknown_word(args)
    if problem:
        print(problem, file=sys.stderr)
        print("usage: workbench [COMMAND ...] | workbench [PIPELINE.json | DATA FILE]", file=sys.stderr)
        return 2
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
