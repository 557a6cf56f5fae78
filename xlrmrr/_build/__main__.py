"""python -m xlrmrr._build man|bash-completion: write the generated file on stdout.

python -m xlrmrr._build libxl-sites XEN_GIT: xlrmrr/libxl_sites.py from a Xen git checkout (run
by hand when a Xen release is added; the file is kept in the repository)."""

import sys

from xlrmrr._build import completion, libxl_sites, manpage

GENERATORS = {"man": manpage.render, "bash-completion": completion.render}

if len(sys.argv) == 3 and sys.argv[1] == "libxl-sites":
    sys.stdout.write(libxl_sites.render(sys.argv[2]))
    sys.exit(0)
if len(sys.argv) != 2 or sys.argv[1] not in GENERATORS:
    sys.exit(f"usage: python -m xlrmrr._build {{{'|'.join(GENERATORS)}}} > FILE, or "
             f"libxl-sites XEN_GIT > FILE")
sys.stdout.write(GENERATORS[sys.argv[1]]())
