"""`python -m hardbase`."""

import sys

from hardbase.cli.main import main

sys.exit(main())
