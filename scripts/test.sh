#!/usr/bin/env bash
# Run the whole test suite: installs the package with its test extras, then pytest.
# Docker/skopeo tests run when a Docker engine answers and skip otherwise
# (set ECR_EMULATOR_REQUIRE_DOCKER=1 to make such a skip a failure, as CI does).
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install --quiet --disable-pip-version-check -e '.[test]'
python3 -m ruff check .
python3 -m ruff format --check .
exec python3 -m pytest -q "$@"
