"""``python -m cli``: the same as the ``lola-arena`` command."""

import sys

from cli.main import main

sys.exit(main())
