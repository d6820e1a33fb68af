#!/usr/bin/env bash
# Run the emulator on 127.0.0.1:5000 (PORT=... to change; extra arguments go to
# `ecr-emulator serve`). The first run makes .venv and installs the package into it.
# Repository URIs point at the server itself, so `docker push <repositoryUri>` just works.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/venv.sh
ensure_venv
exec .venv/bin/ecr-emulator serve --host 127.0.0.1 --port "${PORT:-5000}" --registry-host "$@"
