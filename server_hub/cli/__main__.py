import sys

from server_hub.cli.dispatch import main

sys.exit(main())
