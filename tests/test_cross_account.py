"""Accounts are isolated as on AWS: another account's repository is reached only where its
repository policy allows the action for the caller — through registryId, an ARN, or a
registry password — on the API and on /v2/ alike.

Wordings are quoted AWS answers from public issue trackers:
``User: <arn> is not authorized to perform: ecr:DescribeImages on resource: <repo arn>
because no resource-based policy allows the ecr:DescribeImages action`` (HTTP 400 on the
API, ministryofjustice/modernisation-platform#4454, jetstack/version-checker#167), and
``denied: User: ... ecr:BatchGetImage ...`` (403 ``DENIED`` on the registry,
bottlerocket-os/bottlerocket-update-operator#157).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError
from conftest import docker_manifest
from registry_client import RegistryClient, digest_of, error_codes, manifest_digest

OWNER = "111111111111"
CALLER = "222222222222"
STRANGER = "333333333333"
REPO = "shared/app"
ARN = f"arn:aws:ecr:us-east-1:{OWNER}:repository/{REPO}"
LAYER = b"a layer the owner pushed"


def denied_message(action: str, resource: str = ARN, explicit: bool = False) -> str:
    reason = (
        "with an explicit deny in a resource-based policy"
        if explicit
        else f"because no resource-based policy allows the ecr:{action} action"
    )
    return (
        f"User: arn:aws:iam::{CALLER}:root is not authorized to perform: ecr:{action} "
        f"on resource: {resource} {reason}"
    )


def policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(actions: str | list[str], principal: Any = None) -> dict[str, Any]:
    return {
        "Sid": "Grant",
        "Effect": "Allow",
        "Principal": principal if principal is not None else {"AWS": CALLER},
        "Action": actions,
    }


@pytest.fixture
def owner(make_client):
    client = make_client(account=OWNER)
    client.create_repository(repositoryName=REPO, tags=[{"Key": "team", "Value": "a"}])
    client.put_image(repositoryName=REPO, imageManifest=docker_manifest("owned"), imageTag="v1")
    return client


@pytest.fixture
def caller(make_client):
    return make_client(account=CALLER)


@pytest.fixture
def layer(owner) -> str:
    """A blob in the owner's repository, uploaded through the layer API."""
    upload = owner.initiate_layer_upload(repositoryName=REPO)["uploadId"]
    owner.upload_layer_part(
        repositoryName=REPO,
        uploadId=upload,
        partFirstByte=0,
        partLastByte=len(LAYER) - 1,
        layerPartBlob=LAYER,
    )
    digest = digest_of(LAYER)
    owner.complete_layer_upload(repositoryName=REPO, uploadId=upload, layerDigests=[digest])
    return digest


def owner_upload(owner) -> str:
    return owner.initiate_layer_upload(repositoryName=REPO)["uploadId"]


# Every repository-scoped operation, called by CALLER on OWNER's repository: (action, call).
CALLS: list[tuple[str, Callable[[Any, Any, str], Any]]] = [
    (
        "DescribeRepositories",
        lambda c, o, d: c.describe_repositories(registryId=OWNER, repositoryNames=[REPO]),
    ),
    ("DescribeImages", lambda c, o, d: c.describe_images(registryId=OWNER, repositoryName=REPO)),
    ("ListImages", lambda c, o, d: c.list_images(registryId=OWNER, repositoryName=REPO)),
    (
        "BatchGetImage",
        lambda c, o, d: c.batch_get_image(
            registryId=OWNER, repositoryName=REPO, imageIds=[{"imageTag": "v1"}]
        ),
    ),
    (
        "BatchDeleteImage",
        lambda c, o, d: c.batch_delete_image(
            registryId=OWNER, repositoryName=REPO, imageIds=[{"imageTag": "v1"}]
        ),
    ),
    (
        "PutImage",
        lambda c, o, d: c.put_image(
            registryId=OWNER,
            repositoryName=REPO,
            imageManifest=docker_manifest("theirs"),
            imageTag="v2",
        ),
    ),
    (
        "BatchCheckLayerAvailability",
        lambda c, o, d: c.batch_check_layer_availability(
            registryId=OWNER, repositoryName=REPO, layerDigests=[d]
        ),
    ),
    (
        "GetDownloadUrlForLayer",
        lambda c, o, d: c.get_download_url_for_layer(
            registryId=OWNER, repositoryName=REPO, layerDigest=d
        ),
    ),
    (
        "InitiateLayerUpload",
        lambda c, o, d: c.initiate_layer_upload(registryId=OWNER, repositoryName=REPO),
    ),
    (
        "UploadLayerPart",
        lambda c, o, d: c.upload_layer_part(
            registryId=OWNER,
            repositoryName=REPO,
            uploadId=owner_upload(o),
            partFirstByte=0,
            partLastByte=2,
            layerPartBlob=b"abc",
        ),
    ),
    (
        "CompleteLayerUpload",
        lambda c, o, d: c.complete_layer_upload(
            registryId=OWNER,
            repositoryName=REPO,
            uploadId=owner_upload(o),
            layerDigests=[digest_of(b"abc")],
        ),
    ),
    (
        "SetRepositoryPolicy",
        lambda c, o, d: c.set_repository_policy(
            registryId=OWNER, repositoryName=REPO, policyText=policy(allow("ecr:*"))
        ),
    ),
    (
        "GetRepositoryPolicy",
        lambda c, o, d: c.get_repository_policy(registryId=OWNER, repositoryName=REPO),
    ),
    (
        "DeleteRepositoryPolicy",
        lambda c, o, d: c.delete_repository_policy(registryId=OWNER, repositoryName=REPO),
    ),
    (
        "PutImageTagMutability",
        lambda c, o, d: c.put_image_tag_mutability(
            registryId=OWNER, repositoryName=REPO, imageTagMutability="IMMUTABLE"
        ),
    ),
    (
        "PutImageScanningConfiguration",
        lambda c, o, d: c.put_image_scanning_configuration(
            registryId=OWNER, repositoryName=REPO, imageScanningConfiguration={"scanOnPush": True}
        ),
    ),
    (
        "TagResource",
        lambda c, o, d: c.tag_resource(resourceArn=ARN, tags=[{"Key": "by", "Value": "caller"}]),
    ),
    ("UntagResource", lambda c, o, d: c.untag_resource(resourceArn=ARN, tagKeys=["team"])),
    ("ListTagsForResource", lambda c, o, d: c.list_tags_for_resource(resourceArn=ARN)),
    (
        "DeleteRepository",
        lambda c, o, d: c.delete_repository(registryId=OWNER, repositoryName=REPO, force=True),
    ),
]
IDS = [action for action, _ in CALLS]


def error_of(call: Callable[[], Any]) -> tuple[str, str]:
    with pytest.raises(ClientError) as raised:
        call()
    error = raised.value.response["Error"]
    return error["Code"], error["Message"]


@pytest.mark.parametrize(("action", "call"), CALLS, ids=IDS)
def test_without_a_policy_every_operation_is_refused(owner, caller, layer, action, call):
    code, message = error_of(lambda: call(caller, owner, layer))
    assert (code, message) == ("AccessDeniedException", denied_message(action))
    (image,) = owner.describe_images(repositoryName=REPO)["imageDetails"]
    assert image["imageTags"] == ["v1"]  # nothing changed


@pytest.mark.parametrize(("action", "call"), CALLS, ids=IDS)
def test_a_policy_for_the_action_lets_the_caller_in(owner, caller, layer, action, call):
    owner.set_repository_policy(repositoryName=REPO, policyText=policy(allow(f"ecr:{action}")))
    try:
        call(caller, owner, layer)
    except ClientError as error:  # past the access check, the operation's own rules apply
        assert error.response["Error"]["Code"] != "AccessDeniedException", error


@pytest.mark.parametrize(
    "principal",
    [{"AWS": CALLER}, {"AWS": f"arn:aws:iam::{CALLER}:root"}, {"AWS": [STRANGER, CALLER]}, "*"],
    ids=["account-id", "root-arn", "list", "everyone"],
)
def test_principals_that_name_the_caller(owner, caller, principal):
    owner.set_repository_policy(
        repositoryName=REPO, policyText=policy(allow("ecr:DescribeImages", principal))
    )
    (image,) = caller.describe_images(registryId=OWNER, repositoryName=REPO)["imageDetails"]
    assert image["registryId"] == OWNER


@pytest.mark.parametrize(
    "principal",
    [
        {"AWS": STRANGER},
        {"AWS": f"arn:aws:iam::{STRANGER}:root"},
        {"AWS": f"arn:aws:iam::{CALLER}:role/ci"},  # the emulator's caller is the account root
        {"Service": "codebuild.amazonaws.com"},
    ],
    ids=["other-account", "other-root", "a-role", "a-service"],
)
def test_principals_that_do_not_name_the_caller(owner, caller, principal):
    owner.set_repository_policy(
        repositoryName=REPO, policyText=policy(allow("ecr:DescribeImages", principal))
    )
    code, message = error_of(lambda: caller.describe_images(registryId=OWNER, repositoryName=REPO))
    assert (code, message) == ("AccessDeniedException", denied_message("DescribeImages"))


def test_wildcard_actions_and_an_explicit_deny(owner, caller):
    deny = {**allow("ecr:BatchDelete*"), "Sid": "NoDeletes", "Effect": "Deny"}
    owner.set_repository_policy(repositoryName=REPO, policyText=policy(allow("ecr:*"), deny))
    assert caller.list_images(registryId=OWNER, repositoryName=REPO)["imageIds"]
    code, message = error_of(
        lambda: caller.batch_delete_image(
            registryId=OWNER, repositoryName=REPO, imageIds=[{"imageTag": "v1"}]
        )
    )
    assert (code, message) == (
        "AccessDeniedException",
        denied_message("BatchDeleteImage", explicit=True),
    )


def test_a_conditional_allow_is_not_taken_on_trust(owner, caller):
    conditional = {
        **allow("ecr:DescribeImages"),
        "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-abc"}},
    }
    owner.set_repository_policy(repositoryName=REPO, policyText=policy(conditional))
    code, _ = error_of(lambda: caller.describe_images(registryId=OWNER, repositoryName=REPO))
    assert code == "AccessDeniedException"


def test_a_missing_repository_of_another_account_is_refused_not_revealed(owner, caller, ecr_target):
    code, message = error_of(
        lambda: caller.describe_images(registryId=OWNER, repositoryName="no-such-repo")
    )
    resource = f"arn:aws:ecr:us-east-1:{OWNER}:repository/no-such-repo"
    assert (code, message) == ("AccessDeniedException", denied_message("DescribeImages", resource))


def test_creating_in_another_registry_is_refused(owner, caller):
    code, message = error_of(
        lambda: caller.create_repository(registryId=OWNER, repositoryName="planted")
    )
    resource = f"arn:aws:ecr:us-east-1:{OWNER}:repository/planted"
    assert (code, message) == (
        "AccessDeniedException",
        denied_message("CreateRepository", resource),
    )
    names = [r["repositoryName"] for r in owner.describe_repositories()["repositories"]]
    assert names == [REPO]


def test_listing_another_registry_is_refused(owner, caller):
    code, message = error_of(lambda: caller.describe_repositories(registryId=OWNER))
    resource = f"arn:aws:ecr:us-east-1:{OWNER}:repository/*"
    assert (code, message) == (
        "AccessDeniedException",
        denied_message("DescribeRepositories", resource),
    )


def test_reading_other_accounts_never_creates_their_registries(caller, target_backend):
    for number in range(20):
        made_up = f"{900000000000 + number}"
        with pytest.raises(ClientError):
            caller.describe_images(registryId=made_up, repositoryName="xx")
        with pytest.raises(ClientError):
            caller.list_tags_for_resource(
                resourceArn=f"arn:aws:ecr:us-east-1:{made_up}:repository/xx"
            )
        caller.get_authorization_token(registryIds=[made_up])
    assert set(target_backend.registries) <= {(CALLER, "us-east-1")}


def test_the_owners_own_policy_binds_it_only_by_a_deny(owner):
    """Within an account an Allow is not needed, but an explicit Deny in the repository's
    policy binds its owner too (IAM's evaluation logic; why SetRepositoryPolicy has
    ``force``: a policy can lock its owner out)."""
    owner.set_repository_policy(repositoryName=REPO, policyText=policy(allow("ecr:ListImages")))
    assert owner.describe_images(repositoryName=REPO)["imageDetails"]  # not named: allowed
    deny = {**allow("ecr:BatchDeleteImage", "*"), "Sid": "KeepImages", "Effect": "Deny"}
    owner.set_repository_policy(repositoryName=REPO, policyText=policy(deny), force=True)
    assert owner.list_images(repositoryName=REPO)["imageIds"]
    code, message = error_of(
        lambda: owner.batch_delete_image(repositoryName=REPO, imageIds=[{"imageTag": "v1"}])
    )
    assert code == "AccessDeniedException"
    assert message.endswith("with an explicit deny in a resource-based policy")


# --- the registry plane -------------------------------------------------------------------------


def registry_of(caller, ecr_target) -> RegistryClient:
    """CALLER's registry client for OWNER's registry: a password asked for with
    registryIds=[OWNER], used at OWNER's endpoint (the server's one host, or OWNER's
    AWS-shaped host in-process)."""
    return RegistryClient(caller, registry_id=OWNER)


def test_a_password_for_another_registry_is_judged_as_the_caller(owner, caller, ecr_target):
    client = registry_of(caller, ecr_target)
    (data,) = caller.get_authorization_token(registryIds=[OWNER])["authorizationData"]
    if ecr_target is None:
        assert data["proxyEndpoint"] == f"https://{OWNER}.dkr.ecr.us-east-1.amazonaws.com"
    answer = client.get(f"/v2/{REPO}/manifests/v1")
    assert answer.status_code == 403
    assert answer.json()["errors"] == [
        {"code": "DENIED", "message": denied_message("BatchGetImage")}
    ]


REGISTRY_CALLS: list[tuple[str, str, Callable[[RegistryClient, str, str], Any]]] = [
    ("GET manifest", "BatchGetImage", lambda r, d, m: r.get(f"/v2/{REPO}/manifests/v1")),
    ("HEAD manifest", "BatchGetImage", lambda r, d, m: r.head(f"/v2/{REPO}/manifests/{m}")),
    ("GET blob", "GetDownloadUrlForLayer", lambda r, d, m: r.get(f"/v2/{REPO}/blobs/{d}")),
    ("HEAD blob", "BatchCheckLayerAvailability", lambda r, d, m: r.head(f"/v2/{REPO}/blobs/{d}")),
    ("POST upload", "InitiateLayerUpload", lambda r, d, m: r.post(f"/v2/{REPO}/blobs/uploads/")),
    (
        "PUT manifest",
        "PutImage",
        lambda r, d, m: r.put_manifest(
            REPO,
            "planted",
            docker_manifest("owned").encode(),
            "application/vnd.docker.distribution.manifest.v2+json",
        ),
    ),
    ("DELETE manifest", "BatchDeleteImage", lambda r, d, m: r.delete(f"/v2/{REPO}/manifests/{m}")),
    ("DELETE blob", "BatchDeleteImage", lambda r, d, m: r.delete(f"/v2/{REPO}/blobs/{d}")),
    ("tags list", "ListImages", lambda r, d, m: r.get(f"/v2/{REPO}/tags/list")),
    ("referrers", "BatchGetImage", lambda r, d, m: r.get(f"/v2/{REPO}/referrers/{m}")),
]
REGISTRY_IDS = [name for name, _, _ in REGISTRY_CALLS]


@pytest.mark.parametrize(("name", "action", "call"), REGISTRY_CALLS, ids=REGISTRY_IDS)
def test_registry_requests_are_refused_without_a_policy(
    owner, caller, layer, ecr_target, name, action, call
):
    digest = manifest_digest(docker_manifest("owned"))
    answer = call(registry_of(caller, ecr_target), layer, digest)
    assert answer.status_code == 403, answer.text
    if answer.request.method != "HEAD":
        assert error_codes(answer) == ["DENIED"]
        assert answer.json()["errors"][0]["message"] == denied_message(action)
    assert owner.list_images(repositoryName=REPO)["imageIds"] == [
        {"imageDigest": digest, "imageTag": "v1"}
    ]


@pytest.mark.parametrize(("name", "action", "call"), REGISTRY_CALLS, ids=REGISTRY_IDS)
def test_registry_requests_pass_with_a_policy_for_the_action(
    owner, caller, layer, ecr_target, name, action, call
):
    owner.set_repository_policy(repositoryName=REPO, policyText=policy(allow(f"ecr:{action}")))
    digest = manifest_digest(docker_manifest("owned"))
    answer = call(registry_of(caller, ecr_target), layer, digest)
    assert answer.status_code != 403, answer.text


def test_pull_through_the_registry_after_the_owner_allows_it(owner, caller, layer, ecr_target):
    registry = registry_of(caller, ecr_target)
    assert registry.get(f"/v2/{REPO}/blobs/{layer}").status_code == 403
    pull = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"]
    owner.set_repository_policy(repositoryName=REPO, policyText=policy(allow(pull)))
    assert registry.get(f"/v2/{REPO}/blobs/{layer}").content == LAYER
    manifest = registry.get(f"/v2/{REPO}/manifests/v1")
    assert manifest.status_code == 200
    assert manifest.content == docker_manifest("owned").encode()
    # Pull rights are not push rights.
    answer = registry.post(f"/v2/{REPO}/blobs/uploads/")
    assert answer.status_code == 403
    assert answer.json()["errors"][0]["message"] == denied_message("InitiateLayerUpload")


def test_a_forged_password_naming_another_account_is_refused(owner, caller, ecr_target):
    registry = registry_of(caller, ecr_target)
    payload, _, signature = registry.password.partition(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["account"] = OWNER  # pretend to be the owner
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    registry.session.auth = ("AWS", f"{forged}.{signature}")
    answer = registry.get(f"/v2/{REPO}/manifests/v1")
    assert answer.status_code == 401
    assert error_codes(answer) == ["UNAUTHORIZED"]


def test_mounting_from_a_repository_the_caller_may_not_read_uploads_instead(
    owner, caller, layer, ecr_target, make_client
):
    """A mount names its source by name only, within the target's own registry."""
    caller.create_repository(repositoryName="mine")
    caller.put_account_setting(name="BLOB_MOUNTING", value="ENABLED")
    registry = RegistryClient(caller)
    answer = registry.post("/v2/mine/blobs/uploads/", params={"mount": layer, "from": REPO})
    assert answer.status_code == 202  # not mounted: an ordinary upload starts
    assert (
        caller.batch_check_layer_availability(repositoryName="mine", layerDigests=[layer])[
            "layers"
        ][0]["layerAvailability"]
        == "UNAVAILABLE"
    )


# --- found by hostile testing --------------------------------------------------------------------


def test_naming_another_accounts_digest_in_a_manifest_reaches_nothing(
    owner, caller, layer, ecr_target, target_backend
):
    """PutImage may name any digest; only blobs uploaded or mounted into a repository are
    served from it, so knowing another account's digest opens nothing, not even its size."""
    caller.create_repository(repositoryName="thief")
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "size": 0,
                "digest": layer,
            },
            "layers": [],
        }
    )
    caller.put_image(repositoryName="thief", imageManifest=manifest, imageTag="stolen")
    (checked,) = caller.batch_check_layer_availability(
        repositoryName="thief", layerDigests=[layer]
    )["layers"]
    assert checked["layerAvailability"] == "UNAVAILABLE"
    with pytest.raises(ClientError) as raised:
        caller.get_download_url_for_layer(repositoryName="thief", layerDigest=layer)
    assert raised.value.response["Error"]["Code"] == "LayersNotFoundException"
    assert RegistryClient(caller).get(f"/v2/thief/blobs/{layer}").status_code == 404
    (image,) = caller.describe_images(repositoryName="thief")["imageDetails"]
    assert image["imageSizeInBytes"] == 0  # not the owner's layer size
    # Mounting it from nowhere fails too, and the owner's delete still frees it.
    answer = RegistryClient(caller).post("/v2/thief/blobs/uploads/", params={"mount": layer})
    assert answer.status_code == 202
    owner.delete_repository(repositoryName=REPO, force=True)
    assert not target_backend.blobs.exists(layer)


def test_every_step_of_an_upload_needs_its_own_action(owner, caller, ecr_target):
    """A monolithic POST (start, bytes and finish in one request) needs all three upload
    actions, and a final PUT that carries bytes needs UploadLayerPart as well."""
    registry = registry_of(caller, ecr_target)
    data = b"pushed in one request"
    only_initiate = policy(
        allow("ecr:InitiateLayerUpload"),
        {
            **allow(["ecr:UploadLayerPart", "ecr:CompleteLayerUpload"]),
            "Sid": "No",
            "Effect": "Deny",
        },
    )
    owner.set_repository_policy(repositoryName=REPO, policyText=only_initiate)
    answer = registry.post(
        f"/v2/{REPO}/blobs/uploads/", params={"digest": digest_of(data)}, data=data
    )
    assert answer.status_code == 403
    assert answer.json()["errors"][0]["message"] == denied_message("UploadLayerPart", explicit=True)

    no_parts = policy(
        allow(["ecr:InitiateLayerUpload", "ecr:CompleteLayerUpload"]),
        {**allow("ecr:UploadLayerPart"), "Sid": "No", "Effect": "Deny"},
    )
    owner.set_repository_policy(repositoryName=REPO, policyText=no_parts)
    location = registry.post(f"/v2/{REPO}/blobs/uploads/").headers["Location"]
    assert registry.patch(location, data=data).status_code == 403
    answer = registry.put(location, params={"digest": digest_of(data)}, data=data)
    assert answer.status_code == 403
    (checked,) = owner.batch_check_layer_availability(
        repositoryName=REPO, layerDigests=[digest_of(data)]
    )["layers"]
    assert checked["layerAvailability"] == "UNAVAILABLE"


def test_a_principal_of_another_partition_does_not_name_the_caller(owner, caller):
    china_root = {"AWS": f"arn:aws-cn:iam::{CALLER}:root"}
    owner.set_repository_policy(
        repositoryName=REPO, policyText=policy(allow("ecr:DescribeImages", china_root))
    )
    code, _ = error_of(lambda: caller.describe_images(registryId=OWNER, repositoryName=REPO))
    assert code == "AccessDeniedException"
