"""The local AWS emulator: moto's server with the CloudFormation models of moto_models.py.

    python -m infra.emulator.server -H 127.0.0.1 -p PORT     (moto_server's arguments)

scripts/with-emulator.sh starts it this way (run from the repository root, or with it on
PYTHONPATH)."""
import sys

from moto.server import main

from infra.emulator import moto_models

if __name__ == "__main__":
    moto_models.register()
    sys.exit(main(sys.argv[1:]))
