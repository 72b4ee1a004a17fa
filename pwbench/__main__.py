"""`python -m pwbench` (what torchrun launches) is the `pwbench` command."""

import sys

from pwbench.cli.main import main

sys.exit(main())
