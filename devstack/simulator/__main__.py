"""`python -m devstack.simulator ...`: land the hours the command line asks for and print the manifest."""

import sys

from devstack.simulator.cli import main

sys.exit(main())
