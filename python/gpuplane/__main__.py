"""``python -m gpuplane`` runs the command line."""

import sys

from gpuplane.cli import main

sys.exit(main())
