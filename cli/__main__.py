import sys

from debias_studio.cli.main import main

sys.exit(main())
