import sys

from xlrmrr.cli import console

sys.exit(console())
