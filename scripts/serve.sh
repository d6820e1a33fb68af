#!/usr/bin/env bash
# Install the emulator and run it on 127.0.0.1:5000 (extra arguments go to `ecr-emulator serve`).
# Repository URIs point at the server itself, so `docker push <repositoryUri>` just works.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install --quiet --disable-pip-version-check -e .
exec ecr-emulator serve --host 127.0.0.1 --port "${PORT:-5000}" --registry-host "$@"
