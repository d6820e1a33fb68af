# Sourced by serve.sh and test.sh: make (once) the project's own virtual environment, .venv,
# and install the package into it, so nothing is installed into the system's Python (which
# Debian 12 and Ubuntu 23.04+ refuse anyway: PEP 668, "externally-managed-environment").
#
#   ensure_venv [EXTRAS]     e.g. ensure_venv test   ->   pip install -e '.[test]'
#
# Where python3 cannot make a venv (Debian/Ubuntu without the python3-venv package) it installs
# that package when run as root with apt-get, and otherwise says what to install.

venv_python() { echo "$PWD/.venv/bin/python"; }

_make_venv() {
  python3 -m venv .venv >/dev/null 2>&1 && return 0
  rm -rf .venv
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    local version
    version=$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')
    echo "installing python${version}-venv (python3 cannot make a virtual environment)" >&2
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "python${version}-venv" >/dev/null \
      || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
    python3 -m venv .venv && return 0
  fi
  echo "python3 cannot make a virtual environment: install python3-venv" \
       "(sudo apt-get install python3-venv), then run this again" >&2
  return 1
}

ensure_venv() {
  local extras=${1:-}
  local spec="."
  [ -n "$extras" ] && spec=".[$extras]"
  if [ ! -x .venv/bin/python ]; then
    _make_venv || exit 1
  fi
  # Reinstall only when pyproject.toml changed since the last install of these extras.
  local stamp=".venv/.installed-${extras:-base}"
  local wanted
  wanted=$(sha256sum pyproject.toml | cut -d' ' -f1)
  if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
    echo "installing ecr-emulator${extras:+ [$extras]} into .venv" >&2
    local log=.venv/install.log
    { .venv/bin/python -m pip install --disable-pip-version-check --upgrade pip \
        && .venv/bin/python -m pip install --disable-pip-version-check -e "$spec"; } \
      >"$log" 2>&1 || { tail -n 40 "$log" >&2; exit 1; }
    echo "$wanted" > "$stamp"
  fi
}
