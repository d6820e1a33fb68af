"""Storage classes of images: archive and restore (UpdateImageStorageClass, lifecycle
``transition`` actions, a re-push of an archived image).

As the user guide's "Archiving an image" and "Restoring an image" pages say: an
archived image is still listed and described (``imageStatus`` ARCHIVED) but cannot
be pulled; a restore takes a while (ACTIVATING, "typically up to 20 minutes" on
AWS; here ``RESTORE_TIME`` of the emulator's clock, which tests move), and
pushing the image again restores it at once.
"""

from __future__ import annotations

import datetime as _dt

from ..errors import ServiceError
from ..events import StorageClassChanged
from ..state import Backend, Image, Repository
from . import access, images
from .caller import Caller

RESTORE_TIME = _dt.timedelta(minutes=1)


def archive(backend: Backend, repository: Repository, image: Image, events: list[object]) -> None:
    """Move an active image to the archive (lock held)."""
    image.status = "ARCHIVED"
    image.last_archived_at = backend.now()
    events.append(_changed(repository, image))


def restore(backend: Backend, repository: Repository, image: Image, events: list[object]) -> None:
    """Start restoring an archived image: ACTIVATING until ``RESTORE_TIME`` has passed."""
    image.status = "ACTIVATING"
    image.last_activated_at = backend.now() + RESTORE_TIME
    events.append(_changed(repository, image))


def restore_now(
    backend: Backend, repository: Repository, image: Image, events: list[object]
) -> None:
    """The image was pushed again: "that image will be immediately restored and removed from
    the archive" (user guide, image-push)."""
    if image.status_at(backend.now()) == "ACTIVE":
        return
    image.status = "ACTIVE"
    image.last_activated_at = backend.now()
    events.append(_changed(repository, image))


def _changed(repository: Repository, image: Image) -> StorageClassChanged:
    return StorageClassChanged(
        *repository.scope,
        image.digest,
        image.status,
        image.media_type,
        image.artifact_media_type,
        image.last_activated_at if image.status != "ARCHIVED" else None,
    )


def _not_supported(image: Image, why: str) -> ServiceError:
    return ServiceError(
        "ImageStorageClassUpdateNotSupportedException",
        f"The storage class of image '{image.digest}' cannot be updated: {why}",
    )


def update_storage_class(
    caller: Caller,
    registry_id: str | None,
    name: str,
    image_id: dict[str, str],
    target: str,
) -> tuple[Repository, Image, str]:
    """UpdateImageStorageClass: (repository, image, its status now).  Asking for the class
    an image is already in changes nothing and answers its status."""
    backend = caller.backend
    with backend.transaction() as events:
        repository = access.repository(caller, registry_id, name, "ecr:UpdateImageStorageClass")
        found = images.resolve_image_id(repository, image_id)
        if isinstance(found, images.ImageFailure):
            raise images.failure_error(repository, found)
        image = found
        status = image.status_at(backend.now())
        if target == "ARCHIVE":
            if status == "ACTIVATING":
                raise _not_supported(image, "it is being restored from the archive")
            if status == "ACTIVE":
                parents = repository.index_parents.get(image.digest, set())
                if any(
                    repository.images[p].status_at(backend.now()) != "ARCHIVED" for p in parents
                ):
                    raise _not_supported(
                        image, "an image index that lists it is not archived; archive that first"
                    )
                archive(backend, repository, image, events)
        elif status == "ARCHIVED":
            restore(backend, repository, image, events)
        return repository, image, image.status_at(backend.now())


def pullable(image: Image, now: _dt.datetime) -> bool:
    """Archived and restoring images cannot be pulled ("During the restore process, the image
    remains in the archived state and cannot be pulled until the restore completes")."""
    return image.status_at(now) == "ACTIVE"
