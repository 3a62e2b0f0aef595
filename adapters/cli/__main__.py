"""``python -m adapters.cli``: the ``twin`` command."""

import sys

from adapters.cli import main

sys.exit(main())
