import sys

from ugoku.cli import main

sys.exit(main())
