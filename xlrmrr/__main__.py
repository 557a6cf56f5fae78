import sys

from xlrmrr.cli import main

sys.exit(main())
