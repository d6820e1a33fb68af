#!/usr/bin/env bash
# Build a Python base image without any container registry: debootstrap (Debian bookworm,
# minbase + python3 + python3-venv) imported with `docker import`. Used where `python:3.12-slim`
# cannot be pulled; pass the tag as the Dockerfile's BASE_IMAGE build argument.
#
#   scripts/build-python-base.sh [TAG]      # default local/python3-base:bookworm
#
# Does nothing when TAG already exists. Needs root (debootstrap) and a Debian mirror; the mirror
# is read from apt's own configuration (override with DEBIAN_MIRROR=...).
set -euo pipefail
tag=${1:-local/python3-base:bookworm}

exists() { docker image inspect "$tag" >/dev/null 2>&1; }
exists && { echo "$tag: already built"; exit 0; }

# One build per machine even when several test runs ask at once.
exec 9>"${TMPDIR:-/tmp}/ecr-emulator-python-base.lock"
flock 9
exists && { echo "$tag: already built"; exit 0; }

mirror=${DEBIAN_MIRROR:-}
if [ -z "$mirror" ] && [ -r /etc/apt/sources.list.d/debian.sources ]; then
  mirror=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources)
fi
if [ -z "$mirror" ] && [ -r /etc/apt/sources.list ]; then
  mirror=$(awk '$1 == "deb" {print $2; exit}' /etc/apt/sources.list)
fi
: "${mirror:?no Debian mirror found in apt sources; set DEBIAN_MIRROR}"

root=$(mktemp -d "${TMPDIR:-/tmp}/python-base.XXXXXX")
trap 'rm -rf "$root"' EXIT
debootstrap --variant=minbase --include=python3,python3-venv bookworm "$root" "$mirror" \
  >"$root.log" 2>&1 || { tail -n 30 "$root.log" >&2; rm -f "$root.log"; exit 1; }
rm -f "$root.log"
# Drop what an image never needs: downloaded .debs, package lists, docs, man pages, locales.
tar -C "$root" \
    --exclude='./var/cache/apt/archives/*.deb' --exclude='./var/lib/apt/lists/*_Packages' \
    --exclude='./usr/share/doc/*' --exclude='./usr/share/man/*' --exclude='./usr/share/locale/*' \
    -c . \
  | docker import -c 'ENV LANG=C.UTF-8' -c 'CMD ["python3"]' - "$tag" >/dev/null
echo "$tag: built"
