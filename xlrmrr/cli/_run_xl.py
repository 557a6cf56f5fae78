"""Running xl for the commands that hand over to it once the check is clean (create, pci-attach)."""

from __future__ import annotations


def run_xl(prog: str, argv: list[str], note: str = "") -> int:
    """Say on stderr what runs, then run argv (no shell): xl's exit status, or EXIT_FAIL when
    this machine has no xl. `note` goes before "running:" (e.g. the plan's verdict)."""
    import subprocess
    import sys

    from xlrmrr.common import EXIT_FAIL

    print(f"{prog}: {note + '; ' if note else ''}running: {' '.join(argv)}", file=sys.stderr)
    sys.stderr.flush()
    try:
        return subprocess.run(argv, check=False).returncode
    except FileNotFoundError:
        print(f"{prog}: xl: command not found (is this a Xen dom0?)", file=sys.stderr)
        return EXIT_FAIL
