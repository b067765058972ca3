"""``python -m fastrec.cli`` is the ``fastrec`` command (as is ``python -m fastrec``)."""

import sys

from . import main

sys.exit(main())
