"""``python -m fastrec`` is the ``fastrec`` command."""

import sys

from .cli import main

sys.exit(main())
