# Sourced by serve.sh and test.sh: make (once) the project's own virtual environment, .venv,
# and install the package into it, so nothing is installed into the system's Python (which
# Debian 12 and Ubuntu 23.04+ refuse anyway: PEP 668, "externally-managed-environment").
#
#   ensure_venv [EXTRAS]     e.g. ensure_venv test   ->   pip install -e '.[test]'
#
# Where python3 cannot make a venv (Debian/Ubuntu without the python3-venv package) it installs
# that package when run as root with apt-get, and otherwise says what to install.

_has_ensurepip() { python3 -c 'import ensurepip' >/dev/null 2>&1; }

_install_venv_package() {
  local version log="${TMPDIR:-/tmp}/ecr-emulator-apt.log"
  version=$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')
  echo "installing python${version}-venv (python3 cannot make a virtual environment)" >&2
  { apt-get update -qq \
      && { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "python${version}-venv" \
           || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv; }; } \
    >"$log" 2>&1 || tail -n 5 "$log" >&2
}

_make_venv() {
  if ! _has_ensurepip; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      _install_venv_package
    fi
    if ! _has_ensurepip; then
      echo "python3 cannot make a virtual environment: install python3-venv as root" \
           "(apt-get install python3-venv), then run this again" >&2
      return 1
    fi
  fi
  python3 -m venv .venv || {
    rm -rf .venv
    echo "python3 -m venv .venv failed (see the error above)" >&2
    return 1
  }
}

ensure_venv() {
  local extras=${1:-}
  local spec="."
  [ -n "$extras" ] && spec=".[$extras]"
  if [ ! -x .venv/bin/python ] || ! .venv/bin/python -m pip --version >/dev/null 2>&1; then
    rm -rf .venv  # none yet, or a half-made one
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
