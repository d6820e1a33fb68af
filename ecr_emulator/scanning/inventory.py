"""What an image installs, read from its layers as a container runtime would stack them.

Each layer is streamed once (gzip, bzip2, xz or plain tar; a 1 GiB layer never sits in
memory; zstd layers are not read) and only the package databases are kept: dpkg's
``var/lib/dpkg/status`` (and ``status.d/``, as distroless images have), apk's
``lib/apk/db/installed``, Python's ``*.dist-info/METADATA`` and ``*.egg-info/PKG-INFO``,
npm's ``node_modules/**/package.json``, and ``etc/os-release`` for the release.  A later
layer's file replaces an earlier one's, and its whiteouts (``.wh.NAME``,
``.wh..wh..opq``) delete them, as the OCI image spec's layer changesets say.  rpm's
database (Berkeley DB or SQLite holding binary headers) is not read.
"""

from __future__ import annotations

import bz2
import contextlib
import email.parser
import gzip
import json
import lzma
import posixpath
import re
import tarfile
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, BinaryIO

MAX_DATABASE_BYTES = 64 * 1024 * 1024  # a dpkg status file is a few MB; more is not a database
MAX_METADATA_BYTES = 1024 * 1024  # one package's METADATA or package.json
MAX_TOTAL_BYTES = 256 * 1024 * 1024  # all the databases of one image
MAX_FILES = 200_000

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


def _normal(path: str) -> str:
    return posixpath.normpath(path.lstrip("./").lstrip("/")) if path not in ("", ".") else ""


def read_layers(layers: Iterable[tuple[str, Callable[[], BinaryIO | None]]]) -> Inventory:
    """The packages of an image whose layers are ``(digest, opener)`` pairs, bottom first."""
    kept = _Kept()
    for digest, opener in layers:
        stream = opener()
        if stream is None:
            continue  # bytes not stored (a manifest PutImage named without its blobs)
        try:
            with (
                stream,
                _decompressed(stream) as plain,
                tarfile.open(fileobj=plain, mode="r|") as archive,
            ):
                _apply_layer(archive, digest, kept)
        except (tarfile.TarError, OSError, EOFError, ValueError, zlib.error, lzma.LZMAError):
            pass  # not a tar (an artifact's blob), or cut short: nothing to read in it
    return _parse_all(kept.files)


def _decompressed(stream: BinaryIO) -> Any:
    """``stream`` (seekable, at its start) as the tar inside it.  The decompressors of
    ``gzip``, ``bz2`` and ``lzma`` hand out bounded reads; tarfile's own ``r|*`` does not
    (it inflates whole input chunks and re-slices the result, quadratic on a gzip bomb:
    20 x 60 MiB of zeros took 50 s and 1.4 GB)."""
    magic = stream.read(6)
    stream.seek(0)
    if magic.startswith(b"\x1f\x8b"):
        return gzip.GzipFile(fileobj=stream, mode="rb")
    if magic.startswith(b"BZh"):
        return bz2.BZ2File(stream, mode="rb")
    if magic.startswith(b"\xfd7zXZ"):
        return lzma.LZMAFile(stream, mode="rb")
    if magic.startswith(b"\x28\xb5\x2f\xfd"):
        raise ValueError("zstd layers are not read")
    return contextlib.nullcontext(stream)


class _Kept:
    """The package databases read so far, path -> (bytes, layer), with the directories
    that hold them (so a whiteout that touches none costs nothing) and a budget (so a
    layer of many large package.json files cannot fill the memory)."""

    def __init__(self) -> None:
        self.files: dict[str, tuple[bytes, str]] = {}
        self.directories: dict[str, int] = {}  # every ancestor of a kept file -> how many
        self.bytes = 0

    def _ancestors(self, path: str) -> Iterable[str]:
        while "/" in path:
            path = path.rsplit("/", 1)[0]
            yield path

    def put(self, path: str, data: bytes, layer: str) -> None:
        self.remove(path)
        if len(self.files) >= MAX_FILES or self.bytes + len(data) > MAX_TOTAL_BYTES:
            return  # over budget: what is already kept is scanned
        self.files[path] = (data, layer)
        self.bytes += len(data)
        for directory in self._ancestors(path):
            self.directories[directory] = self.directories.get(directory, 0) + 1

    def remove(self, path: str) -> None:
        old = self.files.pop(path, None)
        if old is None:
            return
        self.bytes -= len(old[0])
        for directory in self._ancestors(path):
            left = self.directories[directory] - 1
            if left:
                self.directories[directory] = left
            else:
                del self.directories[directory]

    def remove_tree(self, path: str) -> None:
        """``path`` and everything under it (a whiteout)."""
        self.remove(path)
        if path in self.directories:
            prefix = path + "/"
            for known in [p for p in self.files if p.startswith(prefix)]:
                self.remove(known)


def _limit(path: str) -> int:
    """The largest file of its kind worth reading: a package database may be large, a
    single package's metadata never is."""
    return (
        MAX_DATABASE_BYTES if path.startswith(("var/lib/dpkg/", "lib/apk/")) else MAX_METADATA_BYTES
    )


def _apply_layer(archive: tarfile.TarFile, digest: str, kept: _Kept) -> None:
    added: dict[str, bytes] = {}
    for member in archive:
        archive.members = []  # streaming: keep no headers (a layer may have millions)
        path = _normal(member.name)
        directory, base = posixpath.split(path)
        if base == ".wh..wh..opq":  # everything lower in this directory is gone
            if directory in kept.directories:
                for known in [p for p in kept.files if p.startswith(directory + "/")]:
                    kept.remove(known)
            continue
        if base.startswith(".wh."):
            kept.remove_tree(posixpath.join(directory, base[len(".wh.") :]))
            continue
        if not member.isfile() or not _WANTED.match(path) or member.size > _limit(path):
            if member.isfile():  # replaced by something we do not read
                kept.remove(path)
            continue
        extracted = archive.extractfile(member)
        if extracted is not None:
            added[path] = extracted.read()
    for path, data in added.items():
        kept.put(path, data, digest)


def _parse_all(files: dict[str, tuple[bytes, str]]) -> Inventory:
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
        try:
            packages.extend(_packages_of(path, content, layer, release))
        except (ValueError, RecursionError):  # one hostile file costs only itself
            continue
    return Inventory(packages, release)


def _packages_of(path: str, content: bytes, layer: str, release: dict[str, str]) -> list[Package]:
    """The packages one kept file says are installed."""
    text = content.decode("utf-8", "replace")
    if path == "var/lib/dpkg/status" or path.startswith("var/lib/dpkg/status.d/"):
        return list(_dpkg(text, path, layer, "Ubuntu" if "Ubuntu" in release else "Debian"))
    if path == "lib/apk/db/installed":
        return list(_apk(text, path, layer))
    if path.endswith(("/METADATA", "/PKG-INFO", ".egg-info")):
        package = _python(text, path, layer)
    elif path.endswith("/package.json"):
        package = _npm(text, path, layer)
    else:
        return []  # os-release
    return [] if package is None else [package]


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
