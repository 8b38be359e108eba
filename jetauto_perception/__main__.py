"""``python3 -m jetauto_perception`` = the ``jetauto-perception`` CLI."""
import sys

from .cli import main

sys.exit(main())
