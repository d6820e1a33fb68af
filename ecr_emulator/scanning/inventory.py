"""What an image installs, read from its layers as a container runtime would stack them.

Each layer is streamed once (``tarfile`` mode ``r|*``: gzip, bzip2, xz or plain tar; a
1 GiB layer never sits in memory) and only the package databases are kept: dpkg's
``var/lib/dpkg/status`` (and ``status.d/``, as distroless images have), apk's
``lib/apk/db/installed``, Python's ``*.dist-info/METADATA`` and ``*.egg-info/PKG-INFO``,
npm's ``node_modules/**/package.json``, and ``etc/os-release`` for the release.  A later
layer's file replaces an earlier one's, and its whiteouts (``.wh.NAME``,
``.wh..wh..opq``) delete them, as the OCI image spec's layer changesets say.  rpm's
database (Berkeley DB or SQLite holding binary headers) is not read.
"""

from __future__ import annotations

import email.parser
import json
import posixpath
import re
import tarfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import BinaryIO

MAX_DATABASE_BYTES = 64 * 1024 * 1024  # a dpkg status file is a few MB; more is not a database

_WANTED = re.compile(
    r"^(?:var/lib/dpkg/status|var/lib/dpkg/status\.d/[^/]+|lib/apk/db/installed"
    r"|etc/os-release|usr/lib/os-release"
    r"|.*/[^/]+\.dist-info/METADATA|.*/[^/]+\.egg-info/PKG-INFO|.*/[^/]+\.egg-info"
    r"|(?:.*/)?node_modules/(?:@[^/]+/)?[^/]+/package\.json)$"
)


@dataclass(frozen=True, slots=True)
class Package:
    ecosystem: str  # as OSV names it: Debian, Alpine, PyPI, npm
    name: str
    version: str
    source: str  # the name advisories use (a Debian or Alpine source package)
    path: str  # the file that says it is installed
    layer: str  # the digest of the layer that file came from
    manager: str  # Amazon Inspector's packageManager: OS, PYTHONPKG, NODEPKG
    arch: str | None = None


@dataclass
class Inventory:
    packages: list[Package]
    release: dict[str, str]  # ecosystem -> release as OSV qualifies it ("12", "v3.19")
    layers_read: int
    layers_unreadable: int


def _normal(path: str) -> str:
    return posixpath.normpath(path.lstrip("./").lstrip("/")) if path not in ("", ".") else ""


def read_layers(layers: Iterable[tuple[str, Callable[[], BinaryIO | None]]]) -> Inventory:
    """The packages of an image whose layers are ``(digest, opener)`` pairs, bottom first."""
    files: dict[str, tuple[bytes, str]] = {}
    read = unreadable = 0
    for digest, opener in layers:
        stream = opener()
        if stream is None:
            unreadable += 1
            continue
        try:
            with stream, tarfile.open(fileobj=stream, mode="r|*") as archive:
                _apply_layer(archive, digest, files)
            read += 1
        except (tarfile.TarError, OSError, EOFError, ValueError):
            unreadable += 1  # not a tar (an artifact's blob), or cut short
    return _parse_all(files, read, unreadable)


def _apply_layer(
    archive: tarfile.TarFile, digest: str, files: dict[str, tuple[bytes, str]]
) -> None:
    added: dict[str, tuple[bytes, str]] = {}
    for member in archive:
        path = _normal(member.name)
        directory, base = posixpath.split(path)
        if base == ".wh..wh..opq":  # everything lower in this directory is gone
            prefix = directory + "/"
            for known in [p for p in files if p.startswith(prefix)]:
                del files[known]
            continue
        if base.startswith(".wh."):
            gone = posixpath.join(directory, base[len(".wh.") :])
            for known in [p for p in files if p == gone or p.startswith(gone + "/")]:
                del files[known]
            continue
        if not member.isfile() or member.size > MAX_DATABASE_BYTES or not _WANTED.match(path):
            if member.isfile() and path in files:  # replaced by something we do not read
                del files[path]
            continue
        extracted = archive.extractfile(member)
        if extracted is not None:
            added[path] = (extracted.read(), digest)
    files.update(added)


def _parse_all(files: dict[str, tuple[bytes, str]], read: int, unreadable: int) -> Inventory:
    packages: list[Package] = []
    release: dict[str, str] = {}
    os_release = files.get("etc/os-release") or files.get("usr/lib/os-release")
    if os_release is not None:
        fields = _os_release(os_release[0].decode("utf-8", "replace"))
        version = fields.get("VERSION_ID", "")
        if fields.get("ID") == "debian" and version:
            release["Debian"] = version.split(".")[0]
        elif fields.get("ID") == "ubuntu" and version:
            release["Ubuntu"] = version
        elif fields.get("ID") == "alpine" and version:
            release["Alpine"] = "v" + ".".join(version.split(".")[:2])
    for path, (content, layer) in sorted(files.items()):
        text = content.decode("utf-8", "replace")
        if path == "var/lib/dpkg/status" or path.startswith("var/lib/dpkg/status.d/"):
            ecosystem = "Ubuntu" if "Ubuntu" in release else "Debian"
            packages.extend(_dpkg(text, path, layer, ecosystem))
        elif path == "lib/apk/db/installed":
            packages.extend(_apk(text, path, layer))
        elif path.endswith(("/METADATA", "/PKG-INFO", ".egg-info")):
            package = _python(text, path, layer)
            if package is not None:
                packages.append(package)
        elif path.endswith("/package.json"):
            package = _npm(text, path, layer)
            if package is not None:
                packages.append(package)
    return Inventory(packages, release, read, unreadable)


def _os_release(text: str) -> dict[str, str]:
    fields = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            fields[key.strip()] = value.strip().strip('"').strip("'")
    return fields


def _paragraphs(text: str) -> Iterable[dict[str, str]]:
    """RFC 822-style stanzas separated by blank lines (dpkg status)."""
    for block in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        key = None
        for line in block.splitlines():
            if line[:1] in (" ", "\t") and key is not None:
                fields[key] += "\n" + line.strip()
                continue
            key, sep, value = line.partition(":")
            if not sep:
                key = None
                continue
            fields[key] = value.strip()
        if fields:
            yield fields


def _dpkg(text: str, path: str, layer: str, ecosystem: str) -> Iterable[Package]:
    for fields in _paragraphs(text):
        name, version = fields.get("Package"), fields.get("Version")
        status = fields.get("Status", "install ok installed")
        if not name or not version or "installed" not in status.split()[-1:]:
            continue
        source = fields.get("Source", name)
        source_name, _, source_version = source.partition(" ")
        # a binary built from another version of its source names that version: "(2.36-9)"
        yield Package(
            ecosystem,
            name,
            version,
            source_name or name,
            path,
            layer,
            "OS",
            fields.get("Architecture"),
        )
        del source_version


def _apk(text: str, path: str, layer: str) -> Iterable[Package]:
    for block in re.split(r"\n\s*\n", text):
        fields = {}
        for line in block.splitlines():
            if len(line) > 2 and line[1] == ":":
                fields.setdefault(line[0], line[2:])
        name, version = fields.get("P"), fields.get("V")
        if name and version:
            yield Package(
                "Alpine", name, version, fields.get("o", name), path, layer, "OS", fields.get("A")
            )


def _python(text: str, path: str, layer: str) -> Package | None:
    headers = email.parser.HeaderParser().parsestr(text)
    name, version = headers.get("Name"), headers.get("Version")
    if not name or not version:
        return None
    return Package("PyPI", name, version, name, path, layer, "PYTHONPKG")


def _npm(text: str, path: str, layer: str) -> Package | None:
    try:
        document = json.loads(text)
    except ValueError:
        return None
    if not isinstance(document, dict):
        return None
    name, version = document.get("name"), document.get("version")
    if not isinstance(name, str) or not isinstance(version, str):
        return None
    return Package("npm", name, version, name, path, layer, "NODEPKG")
