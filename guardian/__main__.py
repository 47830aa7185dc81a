"""`python -m guardian` is the `guardian` command."""

import sys

from guardian.cli import main

sys.exit(main())
