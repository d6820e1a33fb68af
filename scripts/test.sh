#!/usr/bin/env bash
# Run the whole test suite (ruff, then pytest; extra arguments go to pytest). The first run
# makes .venv and installs the package with its test extras into it.
# Docker/skopeo tests run when a Docker engine answers and skip otherwise
# (set ECR_EMULATOR_REQUIRE_DOCKER=1 to make such a skip a failure, as CI does).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/venv.sh
ensure_venv test
.venv/bin/python -m ruff check .
.venv/bin/python -m ruff format --check .
exec .venv/bin/python -m pytest "$@"
