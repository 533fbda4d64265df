"""`python -m sim.cli`: the terrain-mdm command."""

import sys

from sim.cli import main

sys.exit(main())
