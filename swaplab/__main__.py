import sys

from swaplab.cli import main

sys.exit(main())
