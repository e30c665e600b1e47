import sys

from debias_studio.cli import main

sys.exit(main())
