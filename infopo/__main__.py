import sys

from infopo.cli import main

sys.exit(main())
