"""`python -m imgsim_cli ARGV...`: `imgsim` without relying on the script being on PATH."""

import sys

from imgsim_cli.main import main

sys.exit(main())
