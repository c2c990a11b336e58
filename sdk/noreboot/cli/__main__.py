"""``python -m noreboot.cli``: the same as ``hq``."""

import sys

from noreboot.cli import main

sys.exit(main())
