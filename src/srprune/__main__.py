"""``python -m srprune``: the same as the ``srprune`` command."""

import sys

from srprune.cli import main

sys.exit(main())
