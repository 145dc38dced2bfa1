"""`workbench … | head`: a reader that closes the pipe early is not an error and prints no traceback."""

from __future__ import annotations

import subprocess
import sys


def test_a_closed_pipe_ends_quietly() -> None:
    # 20 catalogs (~1 MB) overflow any pipe buffer, so writes really fail once the reader is gone.
    code = "import sys; from workbench.cli import main; sys.exit(max(main(['nodes', '--json']) for _ in range(20)))"
    with subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.read(10)
        proc.stdout.close()  # like `head -c 10`
        err = proc.stderr.read().decode()
        assert proc.wait(timeout=120) == 0
    assert "Traceback" not in err and "Broken pipe" not in err, err
