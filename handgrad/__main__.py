"""``python -m handgrad``: see :mod:`handgrad.cli`."""

import sys

from handgrad.cli import main

sys.exit(main())
