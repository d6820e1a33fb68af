"""Listings: tags (``n``/``last`` pagination with Link headers) and the referrers API."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from werkzeug.wrappers import Response

from .. import media_types
from ..core import images
from ..digests import is_valid_digest
from ..service_models import member_limit
from .errors import RegistryError, digest_invalid

if TYPE_CHECKING:
    from . import RegistryCall

# The registry's tag listing is ListImages underneath: the model's limit on its maxResults.
MAX_TAGS_PER_PAGE = member_limit("ListImages", "maxResults")


def list_tags(call: RegistryCall) -> Response:
    args = call.request.args
    limit_text, last = args.get("n"), args.get("last")
    try:
        limit = int(limit_text) if limit_text is not None else None
        if limit is not None and limit < 0:
            raise ValueError
    except ValueError:
        raise RegistryError(
            "PAGINATION_NUMBER_INVALID",
            "invalid number of results requested",
            400,
            {"n": limit_text},
        ) from None
    if limit is not None and limit > MAX_TAGS_PER_PAGE:
        # ECR passes n on as ListImages' maxResults and answers its error with a 405
        # (quoted in renovatebot/renovate#3800 and google/go-containerregistry#681).
        raise RegistryError(
            "UNSUPPORTED",
            "Invalid parameter at 'maxResults' failed to satisfy constraint: "
            f"'Member must have value less than or equal to {MAX_TAGS_PER_PAGE}'",
            405,
        )
    tags = images.list_tags(call.caller, call.registry_id, call.name)
    if last:
        tags = [tag for tag in tags if tag > last]
    response_headers = {}
    if limit is not None and len(tags) > limit:
        tags = tags[:limit]
        if tags:
            query = urlencode({"n": limit, "last": tags[-1]})
            response_headers["Link"] = f'</v2/{call.path_name}/tags/list?{query}>; rel="next"'
    body = json.dumps({"name": call.path_name, "tags": tags})
    return Response(body, 200, response_headers, content_type="application/json")


def list_referrers(call: RegistryCall) -> Response:
    subject = call.params["digest"]
    if not is_valid_digest(subject):
        raise digest_invalid("invalid digest", subject)
    artifact_type = call.request.args.get("artifactType")
    descriptors = []
    for image in images.referrers(call.caller, call.registry_id, call.name, subject):
        if artifact_type and image.artifact_media_type != artifact_type:
            continue
        descriptors.append(images.referrer_descriptor(image))
    index = {"schemaVersion": 2, "mediaType": media_types.OCI_INDEX, "manifests": descriptors}
    response = Response(json.dumps(index), 200, content_type=media_types.OCI_INDEX)
    if artifact_type:
        response.headers["OCI-Filters-Applied"] = "artifactType"
    return response
