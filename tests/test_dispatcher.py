"""The awsJson1.1 wire layer, driven with raw HTTP (``requests``) and with boto3.

Whatever arrives, the answer is AWS-shaped JSON (``__type`` + ``message``) with a
4xx status, or 501 for a model operation not built yet; never a 500.
"""

from __future__ import annotations

import json
import socket

import botocore.session
import pytest
import requests
from botocore.exceptions import ClientError
from conftest import docker_manifest, ecr_client

from ecr_emulator.blobstore import FilesystemBlobStore
from ecr_emulator.server import BackgroundServer, EmulatorApp
from ecr_emulator.service_models import service_model
from ecr_emulator.state import Backend

ECR = "AmazonEC2ContainerRegistry_V20150921"
ECR_PUBLIC = "SpencerFrontendService"
JSON_11 = "application/x-amz-json-1.1"
ECR_MODEL = botocore.session.get_session().get_service_model("ecr")
PUBLIC_MODEL = botocore.session.get_session().get_service_model("ecr-public")


@pytest.fixture
def post(ecr_server):
    """POST a raw body to the live server; ``target`` None leaves the header out."""
    session = requests.Session()

    def send(target: str | None, body: bytes | str | None = b"{}", **headers: str):
        sent = {"Content-Type": JSON_11, **headers}
        if target is not None:
            sent["X-Amz-Target"] = target
        return session.post(ecr_server.url + "/", data=body, headers=sent, timeout=10)

    yield send
    session.close()


def aws_error(response, status: int, code: str) -> str:
    """Assert an AWS JSON error and return its message."""
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == JSON_11
    assert response.headers["x-amzn-RequestId"]
    body = response.json()
    assert body["__type"] == code, body
    assert isinstance(body["message"], str)
    assert body["message"]
    return body["message"]


def test_success_is_json_11_with_a_request_id(post):
    answer = post(f"{ECR}.CreateRepository", json.dumps({"repositoryName": "wire"}))
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == JSON_11
    assert answer.headers["x-amzn-RequestId"]
    repository = answer.json()["repository"]
    assert repository["repositoryName"] == "wire"
    assert isinstance(repository["createdAt"], int | float)  # epoch seconds on the wire
    listed = post(f"{ECR}.DescribeRepositories", "{}").json()
    assert [r["repositoryName"] for r in listed["repositories"]] == ["wire"]


def test_empty_body_means_no_parameters(post):
    answer = post(f"{ECR}.DescribeRepositories", b"")
    assert answer.status_code == 200
    assert answer.json() == {"repositories": []}


@pytest.mark.parametrize(
    "body", [b"{bad", b'{"repositoryName": "x",}', b"\xff\xfe\x00", b"{}{}"], ids=repr
)
def test_malformed_json_is_serialization_exception(post, body):
    aws_error(post(f"{ECR}.DescribeRepositories", body), 400, "SerializationException")


@pytest.mark.parametrize("body", [b"[]", b'[{"repositoryName": "wire"}]', b"null", b"5", b'"x"'])
def test_body_that_is_not_an_object_is_serialization_exception(post, body):
    aws_error(post(f"{ECR}.CreateRepository", body), 400, "SerializationException")


def test_missing_target_is_unknown_operation(post):
    message = aws_error(post(None, "{}"), 400, "UnknownOperationException")
    assert "X-Amz-Target" in message


@pytest.mark.parametrize(
    "target",
    [
        f"{ECR}.NoSuchOperation",
        f"{ECR}.describeRepositories",  # names are case-sensitive
        "SomeOtherService_20200101.DescribeRepositories",
        "DescribeRepositories",
        f"{ECR}.",
    ],
)
def test_unknown_operation(post, target):
    aws_error(post(target, "{}"), 400, "UnknownOperationException")


@pytest.mark.parametrize(
    ("body", "where", "type_name"),
    [
        ({"repositoryName": 5}, "repositoryName", "string"),
        ({"repositoryName": True}, "repositoryName", "string"),
        ({"repositoryName": ["wire"]}, "repositoryName", "string"),
        ({"repositoryName": "wire", "tags": {"Key": "a"}}, "tags", "list"),
        ({"repositoryName": "wire", "tags": [5]}, "tags", "structure"),
        ({"repositoryName": "wire", "tags": [{"Key": 1, "Value": "v"}]}, "Key", "string"),
        (
            {"repositoryName": "wire", "imageScanningConfiguration": {"scanOnPush": "yes"}},
            "scanOnPush",
            "boolean",
        ),
    ],
)
def test_wrong_member_type_is_serialization_exception(post, body, where, type_name):
    message = aws_error(
        post(f"{ECR}.CreateRepository", json.dumps(body)), 400, "SerializationException"
    )
    assert f"'{where}'" in message
    assert type_name in message
    assert post(f"{ECR}.DescribeRepositories", "{}").json()["repositories"] == []


@pytest.mark.parametrize("value", [True, 1.5, "10"])
def test_integer_member_given_another_type_is_serialization_exception(post, value):
    body = json.dumps({"maxResults": value})
    message = aws_error(post(f"{ECR}.DescribeRepositories", body), 400, "SerializationException")
    assert "'maxResults'" in message
    if value is True:
        assert "Value true " in message  # JSON spelling, not Python's


# Constraint violations answer as ECR does: one InvalidParameterException naming the member.
# The wordings are quoted AWS answers from public issue trackers: imageIds length
# (awslabs/ecr-cleanup-lambda#11), maxResults range (google/go-containerregistry#681),
# registryIds items (aws-actions/amazon-ecr-login#27 and its README), imageDigest nested in
# imageIds (pulumi/pulumi-aws#2466), repositoryName pattern (aws-samples/aws-msk-content-streaming#3).


def invalid_parameter(member: str, constraint: str) -> str:
    return f"Invalid parameter at '{member}' failed to satisfy constraint: '{constraint}'"


def test_missing_required_member_is_invalid_parameter(post):
    message = aws_error(post(f"{ECR}.CreateRepository", "{}"), 400, "InvalidParameterException")
    # ECR checks repositoryName itself and words it without "Member" (see its pattern below)
    assert message == invalid_parameter("repositoryName", "must not be null")


def test_explicit_null_counts_as_missing(post):
    body = json.dumps({"repositoryName": None})
    message = aws_error(post(f"{ECR}.CreateRepository", body), 400, "InvalidParameterException")
    assert message == invalid_parameter("repositoryName", "must not be null")


def test_only_the_first_broken_constraint_is_named(post):
    body = json.dumps({"repositoryName": "wire", "imageManifest": None, "imageTag": ""})
    message = aws_error(post(f"{ECR}.PutImage", body), 400, "InvalidParameterException")
    assert message == invalid_parameter("imageManifest", "Member must not be null")


def test_nested_member_is_named_by_its_own_name(post):
    body = json.dumps({"repositoryName": "wire", "tags": [{"Key": "team"}]})
    message = aws_error(post(f"{ECR}.CreateRepository", body), 400, "InvalidParameterException")
    assert message == invalid_parameter("Value", "Member must not be null")


@pytest.mark.parametrize(
    ("value", "constraint"),
    [
        (1001, "Member must have value less than or equal to 1000"),
        (0, "Member must have value greater than or equal to 1"),
    ],
)
def test_max_results_outside_the_model_range(post, value, constraint):
    body = json.dumps({"maxResults": value})
    message = aws_error(post(f"{ECR}.DescribeRepositories", body), 400, "InvalidParameterException")
    assert message == invalid_parameter("maxResults", constraint)


def test_max_results_at_the_model_limit_is_accepted(post):
    assert post(f"{ECR}.DescribeRepositories", json.dumps({"maxResults": 1000})).status_code == 200


def test_enum_outside_the_model(post):
    body = json.dumps({"repositoryName": "wire", "imageTagMutability": "SOMETIMES"})
    message = aws_error(post(f"{ECR}.CreateRepository", body), 400, "InvalidParameterException")
    assert message == invalid_parameter(
        "imageTagMutability",
        "Member must satisfy enum value set: "
        "[MUTABLE, IMMUTABLE, IMMUTABLE_WITH_EXCLUSION, MUTABLE_WITH_EXCLUSION]",
    )


def test_list_length_names_the_list(post):
    ids = [{"imageTag": f"t{n}"} for n in range(101)]
    body = json.dumps({"repositoryName": "wire", "imageIds": ids})
    message = aws_error(post(f"{ECR}.BatchDeleteImage", body), 400, "InvalidParameterException")
    assert message == invalid_parameter(
        "imageIds", "Member must have length less than or equal to 100"
    )
    body = json.dumps({"repositoryName": "wire", "imageIds": []})
    message = aws_error(post(f"{ECR}.BatchDeleteImage", body), 400, "InvalidParameterException")
    assert message == invalid_parameter(
        "imageIds", "Member must have length greater than or equal to 1"
    )


def test_a_list_items_pattern_names_the_list_and_wraps_the_constraint(post):
    body = json.dumps({"registryIds": ["123456789012", "not-an-account"]})
    message = aws_error(
        post(f"{ECR}.GetAuthorizationToken", body), 400, "InvalidParameterException"
    )
    assert message == invalid_parameter(
        "registryIds",
        "Member must satisfy constraint: [Member must satisfy regular expression pattern: "
        "[0-9]{12}]",
    )


def test_a_members_pattern_is_ecrs_own_wording(post):
    body = json.dumps({"repositoryName": "Bad_Name!"})
    message = aws_error(post(f"{ECR}.CreateRepository", body), 400, "InvalidParameterException")
    pattern = service_model("ecr").shape_for("RepositoryName").metadata["pattern"]
    assert message == invalid_parameter(
        "repositoryName", f"must satisfy regular expression '{pattern}'"
    )


def test_validation_via_boto3_without_client_side_checks(raw_ecr):
    with pytest.raises(ClientError) as raised:
        raw_ecr.describe_repositories(maxResults=5000)
    assert raised.value.response["Error"]["Code"] == "InvalidParameterException"
    assert raised.value.response["Error"]["Message"] == invalid_parameter(
        "maxResults", "Member must have value less than or equal to 1000"
    )
    with pytest.raises(ClientError) as raised:
        raw_ecr.create_repository()
    assert raised.value.response["Error"]["Code"] == "InvalidParameterException"
    assert raised.value.response["Error"]["Message"] == invalid_parameter(
        "repositoryName", "must not be null"
    )


def test_members_outside_the_model_are_ignored(post):
    body = json.dumps({"repositoryName": "wire", "notAMember": {"deep": [1, 2]}})
    assert post(f"{ECR}.CreateRepository", body).status_code == 200


def test_authorization_header_without_credential_is_aws_shaped(post):
    answer = post(f"{ECR}.DescribeRepositories", "{}", Authorization="Bearer nonsense")
    assert answer.status_code < 500
    assert answer.json()["__type"] == "IncompleteSignatureException"


def test_unsigned_request_acts_as_the_default_account(post):
    answer = post(f"{ECR}.CreateRepository", json.dumps({"repositoryName": "unsigned"}))
    repository = answer.json()["repository"]
    assert repository["registryId"] == "123456789012"
    assert repository["repositoryArn"] == "arn:aws:ecr:us-east-1:123456789012:repository/unsigned"


def _placeholder(shape, depth: int = 0):
    """A value of the right JSON type for ``shape`` (not necessarily a valid one)."""
    kind = shape.type_name
    if kind == "structure":
        if depth > 3:
            return {}
        return {name: _placeholder(member, depth + 1) for name, member in shape.members.items()}
    if kind == "list":
        return [_placeholder(shape.member, depth + 1)] if depth <= 3 else []
    if kind == "map":
        return {"key": _placeholder(shape.value, depth + 1)}
    if kind == "string":
        return shape.enum[0] if shape.enum else "x"
    return {"boolean": True, "blob": "eA==", "timestamp": 0, "double": 1.0, "float": 1.0}.get(
        kind, 1
    )


@pytest.mark.parametrize(
    ("prefix", "operation"),
    [(ECR, name) for name in ECR_MODEL.operation_names]
    + [(ECR_PUBLIC, name) for name in PUBLIC_MODEL.operation_names],
)
def test_no_500_for_any_model_operation(post, prefix, operation):
    """Empty, type-correct and type-wrong bodies: every answer is a JSON 2xx/4xx/501."""
    model = ECR_MODEL if prefix == ECR else PUBLIC_MODEL
    post(f"{prefix}.CreateRepository", json.dumps({"repositoryName": "x"}))
    input_shape = model.operation_model(operation).input_shape
    bodies = [{}, _placeholder(input_shape) if input_shape else {}]
    if input_shape:
        bodies.append({member: {"wrong": ["type"]} for member in input_shape.members})
    for body in bodies:
        answer = post(f"{prefix}.{operation}", json.dumps(body))
        assert answer.status_code in (200, 400, 501), (body, answer.text)
        assert answer.headers["Content-Type"] == JSON_11
        payload = answer.json()
        if answer.status_code != 200:
            assert payload["__type"] and payload["message"], payload


# --- hostile input answers 400s, never a 500 ---------------------------------------------------


def test_blob_member_that_is_not_base64_is_serialization_exception(post):
    post(f"{ECR}.CreateRepository", json.dumps({"repositoryName": "blobby"}))
    upload = post(f"{ECR}.InitiateLayerUpload", json.dumps({"repositoryName": "blobby"})).json()
    body = {
        "repositoryName": "blobby",
        "uploadId": upload["uploadId"],
        "partFirstByte": 0,
        "partLastByte": 0,
        "layerPartBlob": "a",
    }
    aws_error(post(f"{ECR}.UploadLayerPart", json.dumps(body)), 400, "SerializationException")


@pytest.mark.parametrize(
    ("operation", "member", "depth"),
    [("PutImage", "imageManifest", 100_000), ("SetRepositoryPolicy", "policyText", 10_000)],
)
def test_deeply_nested_json_text_is_invalid_parameter(post, operation, member, depth):
    post(f"{ECR}.CreateRepository", json.dumps({"repositoryName": "nested"}))
    body = {"repositoryName": "nested", member: "[" * depth}
    aws_error(post(f"{ECR}.{operation}", json.dumps(body)), 400, "InvalidParameterException")


def test_manifest_with_impossible_sizes_is_invalid_parameter(post):
    post(f"{ECR}.CreateRepository", json.dumps({"repositoryName": "sizes"}))
    manifest = json.loads(docker_manifest("sizes"))
    for size in (-5, "abc", 1e999):
        manifest["layers"][0]["size"] = size
        body = {"repositoryName": "sizes", "imageManifest": json.dumps(manifest)}
        aws_error(post(f"{ECR}.PutImage", json.dumps(body)), 400, "InvalidParameterException")


def test_body_cut_short_is_serialization_exception(ecr_server):
    host, port = ecr_server.host, ecr_server.port
    request = (
        f"POST / HTTP/1.1\r\nHost: {host}:{port}\r\nX-Amz-Target: {ECR}.DescribeRegistry\r\n"
        f"Content-Type: {JSON_11}\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{{}}\r\n"
    )
    with socket.create_connection((host, port), timeout=10) as connection:
        connection.sendall(request.encode())
        connection.shutdown(socket.SHUT_WR)
        reply = b""
        while chunk := connection.recv(65536):
            reply += chunk
    assert b" 400 " in reply.split(b"\r\n", 1)[0], reply[:200]
    assert b"SerializationException" in reply


def test_registry_basic_auth_with_non_ascii_is_401(ecr_server):
    answer = requests.get(
        ecr_server.url + "/v2/", headers={"Authorization": "Basic \u00e9\u00e9"}, timeout=10
    )
    assert answer.status_code == 401
    assert answer.json()["errors"][0]["code"] == "UNAUTHORIZED"


def test_odd_but_well_formed_digests_with_a_filesystem_store(tmp_path):
    """Digests the schema allows but no blob can have are simply absent, not a crash."""
    server = BackgroundServer(EmulatorApp(Backend(blobs=FilesystemBlobStore(tmp_path)))).start()
    try:
        ecr = ecr_client(endpoint_url=server.url)
        ecr.create_repository(repositoryName="odd/digests")
        manifest = json.loads(docker_manifest("odd", layer_sizes=()))
        manifest["config"]["digest"] = "sha256:not-hex_but=allowed"
        pushed = ecr.put_image(repositoryName="odd/digests", imageManifest=json.dumps(manifest))
        assert pushed["image"]["imageId"]["imageDigest"].startswith("sha256:")
        (detail,) = ecr.describe_images(repositoryName="odd/digests")["imageDetails"]
        assert detail["imageSizeInBytes"] == 0
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("prefix", "model", "count"), [(ECR, ECR_MODEL, 62), (ECR_PUBLIC, PUBLIC_MODEL, 23)]
)
def test_every_operation_of_each_model_is_served(post, prefix, model, count):
    """The walks of issue 9 (ecr) and issue 10 (ecr-public): each operation of the installed
    model, called with a type-correct body, is answered by the emulator (a 200 or the
    service's own 4xx), never NotImplemented."""
    post(f"{prefix}.CreateRepository", json.dumps({"repositoryName": "walked"}))
    answers = {}
    for operation in model.operation_names:
        input_shape = model.operation_model(operation).input_shape
        body = _placeholder(input_shape) if input_shape else {}
        answer = post(f"{prefix}.{operation}", json.dumps(body))
        answers[operation] = (answer.status_code, answer.json().get("__type"))
    not_served = {op: got for op, got in answers.items() if got[0] == 501}
    assert not_served == {}
    assert len(answers) == len(model.operation_names) == count
    assert all(status in (200, 400) for status, _ in answers.values()), answers
