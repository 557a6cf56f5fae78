"""python -m xlrmrr._build man|bash-completion: write the generated file on stdout."""

import sys

from xlrmrr._build import completion, manpage

GENERATORS = {"man": manpage.render, "bash-completion": completion.render}

if len(sys.argv) != 2 or sys.argv[1] not in GENERATORS:
    sys.exit(f"usage: python -m xlrmrr._build {{{'|'.join(GENERATORS)}}} > FILE")
sys.stdout.write(GENERATORS[sys.argv[1]]())
