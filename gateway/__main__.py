"""``python -m gateway``: the same as the ``gateway`` command."""

import sys

from .commands.main import main

sys.exit(main())
