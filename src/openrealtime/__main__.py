import sys

from .cli import main

# Guarded: worker processes (spawned, for pocketsphinx) import this module as __mp_main__.
if __name__ == "__main__":
    sys.exit(main())
