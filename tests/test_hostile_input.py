"""Hostile input on both planes: forged page tokens, JSON nested a thousand levels deep,
lone surrogates, pathological wildcards, oversized bodies.  Every answer is a clean 4xx
(or 501 for an operation not built yet), quickly; never a 500, a hang or a crash.
"""

from __future__ import annotations

import base64
import json
import socket
import time

import botocore.session
import pytest
import requests
from conftest import docker_manifest, ecr_client
from registry_client import RegistryClient, error_codes

ECR = "AmazonEC2ContainerRegistry_V20150921"
JSON_11 = "application/x-amz-json-1.1"
MODEL = botocore.session.get_session().get_service_model("ecr")
REPO = "hostile/app"
PATHOLOGICAL = "a*a*a*a*a*a*a*a*a*a*a*a*X"  # a backtracking regex never returns on "a" * 300


@pytest.fixture
def post(ecr_server):
    session = requests.Session()
    ecr = ecr_client(endpoint_url=ecr_server.url)
    ecr.create_repository(repositoryName=REPO)
    for number in range(3):
        ecr.put_image(
            repositoryName=REPO, imageManifest=docker_manifest(f"{number}"), imageTag=f"t{number}"
        )

    def send(operation: str, body: bytes | str | dict, timeout: float = 10) -> requests.Response:
        if isinstance(body, dict):
            body = json.dumps(body)
        headers = {"Content-Type": JSON_11, "X-Amz-Target": f"{ECR}.{operation}"}
        return session.post(ecr_server.url + "/", data=body, headers=headers, timeout=timeout)

    yield send
    session.close()


def clean(answer: requests.Response) -> dict:
    """An AWS-shaped answer that is not a server error."""
    assert answer.status_code in (200, 400, 413, 501), answer.text[:300]
    assert answer.headers["Content-Type"] == JSON_11
    payload = answer.json()
    if answer.status_code != 200:
        assert payload["__type"] and payload["message"], payload
        assert payload["__type"] != "ServerException"
    return payload


def placeholder(shape, depth: int = 0, string: str = "x"):
    """A value of the right JSON type for ``shape``, its strings set to ``string``."""
    kind = shape.type_name
    if kind == "structure":
        if depth > 3:
            return {}
        return {n: placeholder(m, depth + 1, string) for n, m in shape.members.items()}
    if kind == "list":
        return [placeholder(shape.member, depth + 1, string)] if depth <= 3 else []
    if kind == "map":
        return {string: placeholder(shape.value, depth + 1, string)}
    if kind == "string":
        return string
    return {"boolean": True, "blob": "eA==", "timestamp": 0, "double": 1.0}.get(kind, 1)


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


OPERATIONS = MODEL.operation_names


@pytest.mark.parametrize("operation", OPERATIONS)
def test_deeply_nested_json_in_every_member(post, operation):
    shape = MODEL.operation_model(operation).input_shape
    members = list(shape.members) if shape else ["anything"]
    deep = nested(1000)
    for member in members:
        body = f'{{"{member}": {deep}, "repositoryName": "{REPO}"}}'
        clean(post(operation, body))
    clean(post(operation, nested(100_000)))  # the whole body: past any recursion limit


@pytest.mark.parametrize("operation", OPERATIONS)
def test_lone_surrogates_in_every_string(post, operation):
    shape = MODEL.operation_model(operation).input_shape
    if shape is None:
        pytest.skip("no input")
    body = placeholder(shape, string="\ud800x")
    clean(post(operation, json.dumps(body)))  # json.dumps writes "\\ud800x"
    if "repositoryName" in shape.members:
        body["repositoryName"] = REPO
        clean(post(operation, json.dumps(body)))


def test_a_lone_surrogate_in_a_manifest_is_invalid_parameter(post):
    manifest = docker_manifest("surrogate").replace(
        '"schemaVersion"', '"\ud800": 1, "schemaVersion"'
    )
    answer = post("PutImage", {"repositoryName": REPO, "imageManifest": manifest})
    payload = clean(answer)
    assert payload["__type"] == "InvalidParameterException"
    assert payload["message"] == (
        "Invalid parameter at 'ImageManifest' failed to satisfy constraint: 'Invalid JSON syntax'"
    )


def token_of(post, operation: str, body: dict) -> str:
    token = post(operation, {**body, "maxResults": 1}).json()["nextToken"]
    assert token
    return token


def forged_tokens(real: str) -> list[str]:
    payload, _, signature = real.partition(".")
    decoded = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    unsigned = []
    for change in ({"position": -1}, {"position": 10**18}, {"generation": -5}, {"skip": -1}):
        claims = {**decoded, **change}
        text = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
        unsigned.append(f"{text}.{signature}")
    flipped = payload[:-2] + ("A" if payload[-2] != "A" else "B") + payload[-1]
    return [
        "garbage",
        "a.b.c",
        "\u00e9\u00e9",
        base64.b64encode(json.dumps({"position": -1}).encode()).decode(),
        f"{flipped}.{signature}",
        f"{payload}.{signature[:-1]}",
        *unsigned,
        "x" * 100_000,
    ]


PAGED = [
    ("DescribeImages", {"repositoryName": REPO}),
    ("ListImages", {"repositoryName": REPO}),
    ("DescribeRepositories", {}),
]


@pytest.mark.parametrize(("operation", "body"), PAGED, ids=[p[0] for p in PAGED])
def test_forged_page_tokens_are_invalid_parameter(post, ecr_server, operation, body):
    ecr_client(endpoint_url=ecr_server.url).create_repository(repositoryName="hostile/other")
    real = token_of(post, operation, body)
    for forged in forged_tokens(real):
        started = time.perf_counter()
        payload = clean(post(operation, {**body, "nextToken": forged}))
        assert time.perf_counter() - started < 2
        assert payload.get("__type") in (
            "InvalidParameterException",
            "SerializationException",
        ), (forged[:60], payload)
    assert clean(post(operation, {**body, "nextToken": real}))  # the real one still works


def test_a_token_of_one_listing_does_not_page_another(post, ecr_server):
    ecr = ecr_client(endpoint_url=ecr_server.url)
    ecr.create_repository(repositoryName="hostile/other")
    for number in range(3):
        ecr.put_image(repositoryName="hostile/other", imageManifest=docker_manifest(f"o{number}"))
    theirs = token_of(post, "DescribeImages", {"repositoryName": "hostile/other"})
    for operation, body in [
        ("DescribeImages", {"repositoryName": REPO}),
        ("ListImages", {"repositoryName": "hostile/other"}),
    ]:
        payload = clean(post(operation, {**body, "nextToken": theirs}))
        assert payload["__type"] == "InvalidParameterException"
    other_account = ecr_client(endpoint_url=ecr_server.url, account="999999999999")
    other_account.create_repository(repositoryName=REPO)
    with pytest.raises(Exception) as raised:
        other_account.describe_images(repositoryName=REPO, nextToken=theirs)
    assert raised.value.response["Error"]["Code"] == "InvalidParameterException"


def test_pathological_exclusion_filters_answer_at_once(ecr_server):
    ecr = ecr_client(endpoint_url=ecr_server.url)
    ecr.create_repository(
        repositoryName="hostile/wild",
        imageTagMutability="IMMUTABLE_WITH_EXCLUSION",
        imageTagMutabilityExclusionFilters=[
            {"filterType": "WILDCARD", "filter": PATHOLOGICAL},
            {"filterType": "WILDCARD", "filter": "*" * 128},
        ],
    )
    tag = "a" * 300
    started = time.perf_counter()
    ecr.put_image(repositoryName="hostile/wild", imageManifest=docker_manifest("w1"), imageTag=tag)
    # Moving the tag consults the filters: "*"*128 matches, so the tag is mutable.
    ecr.put_image(repositoryName="hostile/wild", imageManifest=docker_manifest("w2"), imageTag=tag)
    registry = RegistryClient(ecr)
    _, answer = registry.push_image("hostile/wild", "a" * 128)
    assert answer.status_code == 201
    _, answer = registry.push_image("hostile/wild", "a" * 128, layers=(b"other",))
    assert answer.status_code == 201
    assert time.perf_counter() - started < 5


def test_pathological_filter_without_a_match_keeps_the_tag(ecr_server):
    ecr = ecr_client(endpoint_url=ecr_server.url)
    ecr.create_repository(
        repositoryName="hostile/locked",
        imageTagMutability="IMMUTABLE_WITH_EXCLUSION",
        imageTagMutabilityExclusionFilters=[{"filterType": "WILDCARD", "filter": PATHOLOGICAL}],
    )
    tag = "a" * 300
    ecr.put_image(
        repositoryName="hostile/locked", imageManifest=docker_manifest("l1"), imageTag=tag
    )
    started = time.perf_counter()
    with pytest.raises(Exception) as raised:
        ecr.put_image(
            repositoryName="hostile/locked", imageManifest=docker_manifest("l2"), imageTag=tag
        )
    assert raised.value.response["Error"]["Code"] == "ImageTagAlreadyExistsException"
    assert time.perf_counter() - started < 2
    # and every other account is as quick as ever meanwhile
    assert ecr_client(endpoint_url=ecr_server.url, account="999999999999").describe_repositories()


# --- oversized bodies ---------------------------------------------------------------------------


def raw_exchange(server, head: str, body: bytes = b"", wait: float = 5) -> bytes:
    with socket.create_connection((server.host, server.port), timeout=wait) as connection:
        connection.sendall(head.encode() + body)
        reply = b""
        try:
            while chunk := connection.recv(65536):
                reply += chunk
                if b"\r\n\r\n" in reply and b"}" in reply:
                    break
        except TimeoutError:
            pass
    return reply


def test_an_api_body_past_the_models_limit_is_refused_before_it_is_read(ecr_server):
    """Content-Length of 1 GB on DescribeRegistry: refused at once, not read."""
    head = (
        f"POST / HTTP/1.1\r\nHost: {ecr_server.host}:{ecr_server.port}\r\n"
        f"X-Amz-Target: {ECR}.DescribeRegistry\r\nContent-Type: {JSON_11}\r\n"
        f"Content-Length: 1000000000\r\n\r\n"
    )
    started = time.perf_counter()
    reply = raw_exchange(ecr_server, head, b"{")
    assert time.perf_counter() - started < 3
    status_line, _, rest = reply.partition(b"\r\n")
    assert b" 413 " in status_line, reply[:300]
    assert b"RequestEntityTooLarge" in rest


def test_a_chunked_api_body_past_the_limit_is_cut_off(ecr_server):
    head = (
        f"POST / HTTP/1.1\r\nHost: {ecr_server.host}:{ecr_server.port}\r\n"
        f"X-Amz-Target: {ECR}.DescribeRegistry\r\nContent-Type: {JSON_11}\r\n"
        f"Transfer-Encoding: chunked\r\n\r\n"
    )
    chunk = b"x" * 65536
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(4)) + b"0\r\n\r\n"
    reply = raw_exchange(ecr_server, head, body)
    assert b" 413 " in reply.partition(b"\r\n")[0], reply[:300]


def test_upload_layer_part_takes_the_models_twenty_mib_of_bytes(ecr_server):
    ecr = ecr_client(endpoint_url=ecr_server.url)
    ecr.create_repository(repositoryName="hostile/parts")
    upload = ecr.initiate_layer_upload(repositoryName="hostile/parts")["uploadId"]
    part = b"p" * (20 * 1024 * 1024)  # the model's 20971520 bytes: 28 MB of base64 text
    answer = ecr.upload_layer_part(
        repositoryName="hostile/parts",
        uploadId=upload,
        partFirstByte=0,
        partLastByte=len(part) - 1,
        layerPartBlob=part,
    )
    assert answer["lastByteReceived"] == len(part) - 1
    with pytest.raises(Exception) as raised:
        ecr.upload_layer_part(
            repositoryName="hostile/parts",
            uploadId=upload,
            partFirstByte=len(part),
            partLastByte=2 * len(part),
            layerPartBlob=part + b"!",
        )
    assert raised.value.response["Error"]["Code"] == "InvalidParameterException"
    assert raised.value.response["Error"]["Message"] == (
        "Invalid parameter at 'layerPartBlob' failed to satisfy constraint: "
        "'Member must have length less than or equal to 20971520'"
    )


# --- the registry plane -------------------------------------------------------------------------


@pytest.fixture
def registry(ecr_server) -> RegistryClient:
    ecr = ecr_client(endpoint_url=ecr_server.url)
    ecr.create_repository(repositoryName=REPO)
    client = RegistryClient(ecr)
    client.push_image(REPO, "v1")
    return client


def registry_clean(answer: requests.Response) -> None:
    assert answer.status_code < 500, answer.text[:300]
    under_v2 = answer.request.path_url.startswith("/v2/")  # requests resolves "/v2/../.."
    if answer.status_code >= 400 and answer.request.method != "HEAD" and under_v2:
        assert error_codes(answer)


def test_registry_manifests_nested_deep_or_with_surrogates(registry):
    for body in (
        nested(1000).encode(),
        nested(100_000).encode(),
        b'{"schemaVersion": 2, "mediaType": "' + b"\\ud800" + b'"}',
        b'{"schemaVersion": 2, "config": ' + nested(5000).encode() + b"}",
        "\ud800".encode("utf-8", "surrogatepass"),
        b"\xff\xfe",
    ):
        answer = registry.put_manifest(
            REPO, "bad", body, "application/vnd.oci.image.manifest.v1+json"
        )
        registry_clean(answer)
        assert answer.status_code == 400
        assert error_codes(answer) == ["MANIFEST_INVALID"]


def test_registry_accepts_surrogate_escapes_in_annotations_and_lists_them(registry):
    _, answer = registry.push_image(REPO, "annotated", annotations={"note": "\ud800"})
    assert answer.status_code == 201, answer.text
    assert registry.get(f"/v2/{REPO}/manifests/annotated").status_code == 200


def test_registry_tag_listing_with_invalid_utf8(registry):
    registry_clean(registry.get(f"/v2/{REPO}/tags/list?last=%ED%A0%80&n=%FF"))


@pytest.mark.parametrize(
    "query",
    [
        {"n": "-1"},
        {"n": "abc"},
        {"n": str(10**30)},
        {"n": "1001"},
        {"last": "z" * 10000},
    ],
)
def test_registry_tag_listing_parameters(registry, query):
    answer = registry.get(f"/v2/{REPO}/tags/list", params=query)
    registry_clean(answer)
    if query.get("n") in ("-1", "abc"):
        assert error_codes(answer) == ["PAGINATION_NUMBER_INVALID"]
    if query.get("n") in ("1001", str(10**30)):
        # ECR's own answer: n becomes ListImages' maxResults (renovatebot/renovate#3800)
        assert answer.status_code == 405
        assert answer.json()["errors"][0] == {
            "code": "UNSUPPORTED",
            "message": "Invalid parameter at 'maxResults' failed to satisfy constraint: "
            "'Member must have value less than or equal to 1000'",
        }


@pytest.mark.parametrize(
    "path",
    [
        f"/v2/{REPO}/manifests/..%2F..%2Fetc%2Fpasswd",
        f"/v2/{REPO}/manifests/sha256:{'0' * 63}",
        f"/v2/{REPO}/manifests/md5:{'0' * 32}",
        f"/v2/{REPO}/blobs/sha256:../../etc/passwd",
        f"/v2/{REPO}/blobs/sha512:{'g' * 128}",
        f"/v2/{REPO}/referrers/not-a-digest",
        "/v2/../../etc/passwd/manifests/latest",
        f"/v2/{'a/' * 500}x/tags/list",
        f"/v2/{REPO}/blobs/uploads/../../x",
        f"/v2/{REPO}/manifests/" + "t" * 5000,
    ],
)
def test_registry_paths_that_lead_nowhere(registry, path):
    for method in ("GET", "HEAD", "DELETE", "PUT", "PATCH"):
        registry_clean(registry.request(method, path, data=b"{}"))


@pytest.mark.parametrize(
    "content_range", ["bytes=5-2", "0-", "-5", "a-b", "0-99999999999999999999", "\u00e9"]
)
def test_registry_content_ranges(registry, content_range):
    location = registry.post(f"/v2/{REPO}/blobs/uploads/").headers["Location"]
    answer = registry.patch(
        location,
        data=b"abc",
        headers={"Content-Range": content_range.encode("utf-8").decode("latin-1")},
    )
    registry_clean(answer)
    assert answer.status_code in (202, 400, 416)


@pytest.mark.parametrize("header", ["bytes=9999999-", "bytes=5-2", "bytes=a-b", "bytes=0-0,2-1"])
def test_registry_blob_ranges(registry, header):
    (digest,) = [
        layer["digest"] for layer in registry.get(f"/v2/{REPO}/manifests/v1").json()["layers"][:1]
    ]
    registry_clean(registry.get(f"/v2/{REPO}/blobs/{digest}", headers={"Range": header}))


def test_registry_rejects_forged_and_foreign_passwords(registry, ecr_server):
    for password in ("", ".", "a.b", "x" * 100_000, registry.password + "x", "\u00e9"):
        answer = requests.get(
            ecr_server.url + f"/v2/{REPO}/tags/list",
            auth=("AWS", password.encode("utf-8").decode("latin-1")),
            timeout=10,
        )
        # a head past the server's 64 KiB limit is refused before it is read (cheroot: 413)
        assert answer.status_code in (401, 413), (password[:20], answer.text)


# --- found by hostile testing --------------------------------------------------------------------


def test_a_long_hostile_authorization_header_answers_at_once(ecr_server):
    """A regex search over "Credential=" * 6000 took seconds while holding the interpreter."""
    started = time.perf_counter()
    answer = requests.post(
        ecr_server.url + "/",
        data="{}",
        headers={
            "Content-Type": JSON_11,
            "X-Amz-Target": f"{ECR}.DescribeRepositories",
            "Authorization": "Credential=" * 5900,
        },
        timeout=10,
    )
    assert time.perf_counter() - started < 1
    assert answer.status_code == 403
    assert answer.json()["__type"] == "IncompleteSignatureException"


def test_a_content_range_with_huge_numbers_is_416(registry):
    location = registry.post(f"/v2/{REPO}/blobs/uploads/").headers["Location"]
    answer = registry.patch(location, data=b"abc", headers={"Content-Range": "0-" + "9" * 5000})
    assert answer.status_code == 416
    assert error_codes(answer) == ["BLOB_UPLOAD_INVALID"]


def test_a_schema1_signature_nested_deep_is_manifest_invalid(registry):
    protected = base64.urlsafe_b64encode(nested(100_000).encode()).decode()
    manifest = {
        "schemaVersion": 1,
        "name": REPO,
        "tag": "old",
        "fsLayers": [],
        "signatures": [{"protected": protected}],
    }
    answer = registry.put_manifest(
        REPO,
        "old",
        json.dumps(manifest).encode(),
        "application/vnd.docker.distribution.manifest.v1+prettyjws",
    )
    assert answer.status_code == 400
    assert error_codes(answer) == ["MANIFEST_INVALID"]


@pytest.mark.parametrize("subject", [{"digest": [1]}, {"digest": {"x": 1}}, "sha256:abc", [1]])
def test_a_subject_that_is_no_descriptor_stores_nothing(post, subject):
    manifest = json.loads(docker_manifest("subject"))
    manifest["subject"] = subject
    body = {"repositoryName": REPO, "imageManifest": json.dumps(manifest), "imageTag": "s"}
    payload = clean(post("PutImage", body))
    assert payload["__type"] == "InvalidParameterException"
    listed = clean(post("ListImages", {"repositoryName": REPO}))["imageIds"]
    assert "s" not in {image_id.get("imageTag") for image_id in listed}


def test_digests_no_file_can_have_are_absent_on_disk(tmp_path):
    """Over-long or upper-case digests name no blob: never a file-system error."""
    from ecr_emulator.blobstore import FilesystemBlobStore
    from ecr_emulator.server import BackgroundServer, EmulatorApp
    from ecr_emulator.state import Backend

    server = BackgroundServer(EmulatorApp(Backend(blobs=FilesystemBlobStore(tmp_path)))).start()
    try:
        ecr = ecr_client(endpoint_url=server.url)
        ecr.create_repository(repositoryName="odd/long")
        manifest = json.loads(docker_manifest("long"))
        manifest["config"]["digest"] = "sha256:" + "ab" + "c" * 400
        manifest["layers"][0]["digest"] = "sha256:" + "A" * 64
        ecr.put_image(repositoryName="odd/long", imageManifest=json.dumps(manifest), imageTag="t")
        ecr.batch_delete_image(repositoryName="odd/long", imageIds=[{"imageTag": "t"}])
        ecr.delete_repository(repositoryName="odd/long", force=True)
    finally:
        server.stop()
