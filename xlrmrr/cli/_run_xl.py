"""Running xl for the commands that hand over to it once the check is clean (create, pci-attach)."""

from __future__ import annotations

EXIT_NO_XL = 127        # the shell's "command not found"
EXIT_NOT_EXECUTABLE = 126


def run_xl(prog: str, argv: list[str], note: str = "", quiet: bool = False) -> int:
    """Say on stderr what runs (unless quiet: xl's -q), then run argv (no shell) and return
    exactly xl's exit status; 128+N when xl is killed by signal N (as a shell says it); 127
    with one stderr line when this machine has no xl on PATH, 126 when it cannot be run.
    `note` goes before "running:" (e.g. the plan's verdict)."""
    import shutil
    import subprocess
    import sys

    from xlrmrr.report import escape

    if shutil.which(argv[0]) is None:
        print(f"{prog}: {argv[0]}: command not found on PATH (not a Xen dom0, or the Xen tools "
              f"are not installed); nothing was created", file=sys.stderr)
        return EXIT_NO_XL
    if not quiet:
        print(escape(f"{prog}: {note + '; ' if note else ''}running: {' '.join(argv)}"),
              file=sys.stderr)
    sys.stderr.flush()
    sys.stdout.flush()
    try:
        rc = subprocess.run(argv, check=False).returncode
    except FileNotFoundError:
        print(f"{prog}: {argv[0]}: command not found on PATH; nothing was created", file=sys.stderr)
        return EXIT_NO_XL
    except PermissionError as e:
        print(f"{prog}: {argv[0]}: cannot run it: {e.strerror}", file=sys.stderr)
        return EXIT_NOT_EXECUTABLE
    return 128 - rc if rc < 0 else rc
