"""``python -m pipelines.cli``: the same as ``krx-short``."""

import sys

from pipelines.cli import main

sys.exit(main())
