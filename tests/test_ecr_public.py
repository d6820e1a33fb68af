"""ECR Public (issue 10): its API through boto3 and the aws CLI, its registry with docker and
skopeo — a login to push, no login to pull — and what keeps it apart from private ECR."""

from __future__ import annotations

import base64
import json
import subprocess
import time

import boto3
import pytest
import requests
from botocore.exceptions import ClientError
from registry_client import OCI_CONFIG, OCI_LAYER, OCI_MANIFEST, RegistryClient, digest_of
from support import (
    BUSYBOX,
    PYTHON_MODULE,
    Docker,
    aws_cli,
    aws_env,
    require_docker,
    require_file,
    run_label,
    serving,
)

from ecr_emulator import mock_ecr
from ecr_emulator.arns import default_public_alias

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def public_client(url: str | None = None, region: str = "us-east-1", account: str | None = None):
    options = {"aws_access_key_id": account or "test", "aws_secret_access_key": "test"}
    return boto3.client("ecr-public", region_name=region, endpoint_url=url, **options)


def private_client(url: str):
    return boto3.client(
        "ecr",
        region_name="us-east-1",
        endpoint_url=url,
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


def error_of(raised: pytest.ExceptionInfo[ClientError]) -> tuple[str, int, str]:
    response = raised.value.response
    return (
        response["Error"]["Code"],
        response["ResponseMetadata"]["HTTPStatusCode"],
        response["Error"]["Message"],
    )


def small_image() -> tuple[bytes, bytes, str]:
    """(config, layer, manifest JSON) of a one-layer OCI image."""
    config, layer = b'{"architecture":"amd64","os":"linux"}', b"public layer bytes"
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": digest_of(config), "size": len(config)},
            "layers": [{"mediaType": OCI_LAYER, "digest": digest_of(layer), "size": len(layer)}],
        }
    )
    return config, layer, manifest


def push_layers_through_the_api(client, repository: str, *blobs: bytes) -> None:
    """InitiateLayerUpload / UploadLayerPart / CompleteLayerUpload, as the docker
    credential-less SDK path does it."""
    for blob in blobs:
        upload = client.initiate_layer_upload(repositoryName=repository)["uploadId"]
        client.upload_layer_part(
            repositoryName=repository,
            uploadId=upload,
            partFirstByte=0,
            partLastByte=len(blob) - 1,
            layerPartBlob=blob,
        )
        done = client.complete_layer_upload(
            repositoryName=repository, uploadId=upload, layerDigests=[digest_of(blob)]
        )
        assert done["layerDigest"] == digest_of(blob)


# --- the API --------------------------------------------------------------------------------


def test_repositories_catalog_data_and_tags_round_trip(ecr_server):
    public = public_client(ecr_server.url)
    created = public.create_repository(
        repositoryName="team/tool",
        catalogData={
            "description": "A tool",
            "architectures": ["x86-64", "ARM 64"],
            "operatingSystems": ["Linux"],
            "logoImageBlob": PNG,
            "aboutText": "# About",
            "usageText": "docker pull it",
        },
        tags=[{"Key": "team", "Value": "a"}],
    )
    repository = created["repository"]
    assert repository["repositoryArn"] == "arn:aws:ecr-public::123456789012:repository/team/tool"
    (registry,) = public.describe_registries()["registries"]
    alias = registry["aliases"][0]["name"]
    # on a server: its host, then the public prefix (``registry._public_path``)
    assert (
        repository["repositoryUri"]
        == f"{ecr_server.host}:{ecr_server.port}/public.ecr.aws/{alias}/team/tool"
    )
    assert registry["registryUri"] == f"{ecr_server.host}:{ecr_server.port}/public.ecr.aws/{alias}"
    assert registry["registryArn"] == "arn:aws:ecr-public::123456789012:registry/123456789012"
    assert registry["aliases"][0]["defaultRegistryAlias"] is True
    catalog = created["catalogData"]
    assert catalog["description"] == "A tool"
    assert catalog["architectures"] == ["x86-64", "ARM 64"]
    assert catalog["marketplaceCertified"] is False
    logo = requests.get(catalog["logoUrl"].replace("https://", "http://"), timeout=10)
    assert logo.status_code == 200 and logo.content == PNG
    assert logo.headers["Content-Type"] == "image/png"

    public.put_repository_catalog_data(
        repositoryName="team/tool", catalogData={"description": "Changed"}
    )
    got = public.get_repository_catalog_data(repositoryName="team/tool")["catalogData"]
    assert got["description"] == "Changed" and got["usageText"] == "docker pull it"

    public.put_registry_catalog_data(displayName="Team A")
    assert public.get_registry_catalog_data()["registryCatalogData"] == {"displayName": "Team A"}

    arn = repository["repositoryArn"]
    public.tag_resource(resourceArn=arn, tags=[{"Key": "stage", "Value": "prod"}])
    public.untag_resource(resourceArn=arn, tagKeys=["team"])
    assert public.list_tags_for_resource(resourceArn=arn)["tags"] == [
        {"Key": "stage", "Value": "prod"}
    ]
    # the model's limits: 1024 characters of description, 25,600 of about text
    with pytest.raises(ClientError) as raised:
        public.put_repository_catalog_data(
            repositoryName="team/tool", catalogData={"description": "x" * 1025}
        )
    assert error_of(raised)[:2] == ("InvalidParameterException", 400)
    with pytest.raises(ClientError) as raised:
        public.put_repository_catalog_data(
            repositoryName="team/tool", catalogData={"aboutText": "x" * 25601}
        )
    assert error_of(raised)[:2] == ("InvalidParameterException", 400)


def test_only_us_east_1_answers(ecr_server):
    """As AWS: "GetAuthorizationToken command is only supported in us-east-1.\""""
    west = public_client(ecr_server.url, region="us-west-2")
    with pytest.raises(ClientError) as raised:
        west.get_authorization_token()
    assert error_of(raised) == (
        "UnsupportedCommandException",
        400,
        "GetAuthorizationToken command is only supported in us-east-1.",
    )


def test_public_and_private_repositories_never_meet(ecr_server):
    public = public_client(ecr_server.url)
    private = private_client(ecr_server.url)
    public.create_repository(repositoryName="same/name")
    private.create_repository(repositoryName="same/name")
    assert [r["repositoryName"] for r in public.describe_repositories()["repositories"]] == [
        "same/name"
    ]
    assert [r["repositoryUri"] for r in private.describe_repositories()["repositories"]] != [
        r["repositoryUri"] for r in public.describe_repositories()["repositories"]
    ]
    public.delete_repository(repositoryName="same/name")
    assert private.describe_repositories(repositoryNames=["same/name"])["repositories"]
    # the server's public prefix is no private repository's
    with pytest.raises(ClientError) as raised:
        private.create_repository(repositoryName="public.ecr.aws/someone/tool")
    assert error_of(raised)[:2] == ("InvalidParameterException", 400)


def test_images_tags_pages_and_layers_through_the_api(ecr_server):
    public = public_client(ecr_server.url)
    public.create_repository(repositoryName="api/images")
    config, layer, manifest = small_image()
    with pytest.raises(ClientError) as raised:  # the same manifest rules as private ECR
        public.put_image(repositoryName="api/images", imageManifest="{not json", imageTag="x")
    assert error_of(raised)[0] == "InvalidParameterException"
    push_layers_through_the_api(public, "api/images", config, layer)
    available = public.batch_check_layer_availability(
        repositoryName="api/images", layerDigests=[digest_of(layer), digest_of(b"absent")]
    )
    # private ECR's answer: a layer never pushed is UNAVAILABLE
    assert [item["layerAvailability"] for item in available["layers"]] == [
        "AVAILABLE",
        "UNAVAILABLE",
    ]
    image = public.put_image(repositoryName="api/images", imageManifest=manifest, imageTag="v1")
    digest = image["image"]["imageId"]["imageDigest"]
    for tag in ("v2", "v3", "latest"):
        public.put_image(repositoryName="api/images", imageManifest=manifest, imageTag=tag)
    first = public.describe_image_tags(repositoryName="api/images", maxResults=2)
    rest = public.describe_image_tags(repositoryName="api/images", nextToken=first["nextToken"])
    tags = [d["imageTag"] for d in first["imageTagDetails"] + rest["imageTagDetails"]]
    assert sorted(tags) == ["latest", "v1", "v2", "v3"] and "nextToken" not in rest
    detail = first["imageTagDetails"][0]["imageDetail"]
    assert detail["imageDigest"] == digest and detail["imageSizeInBytes"] == len(layer)
    (described,) = public.describe_images(repositoryName="api/images")["imageDetails"]
    assert sorted(described["imageTags"]) == ["latest", "v1", "v2", "v3"]
    # PutImage through the API is pulled by anyone, no login (in-process: public.ecr.aws)
    alias = public.describe_registries()["registries"][0]["aliases"][0]["name"]
    base = f"{ecr_server.url}/v2/public.ecr.aws/{alias}/api/images"
    pulled = requests.get(f"{base}/manifests/v1", headers={"Accept": OCI_MANIFEST}, timeout=10)
    assert pulled.status_code == 200 and pulled.content.decode() == manifest
    assert requests.get(f"{base}/blobs/{digest_of(layer)}", timeout=10).content == layer
    deleted = public.batch_delete_image(
        repositoryName="api/images", imageIds=[{"imageDigest": digest}]
    )
    assert deleted["imageIds"][0]["imageDigest"] == digest
    assert requests.get(f"{base}/manifests/v1", timeout=10).status_code == 404
    with pytest.raises(ClientError) as raised:
        public.delete_repository(repositoryName="api/images-none")
    assert error_of(raised)[0] == "RepositoryNotFoundException"


def test_policies_decide_who_else_may_push(ecr_server):
    owner = public_client(ecr_server.url, account="111111111111")
    other = public_client(ecr_server.url, account="222222222222")
    owner.create_repository(repositoryName="shared")
    with pytest.raises(ClientError) as raised:
        other.initiate_layer_upload(registryId="111111111111", repositoryName="shared")
    code, _, message = error_of(raised)
    assert code == "AccessDeniedException" and "ecr-public:InitiateLayerUpload" in message
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::222222222222:root"},
                "Action": ["ecr-public:InitiateLayerUpload"],
            }
        ],
    }
    owner.set_repository_policy(repositoryName="shared", policyText=json.dumps(policy))
    assert json.loads(owner.get_repository_policy(repositoryName="shared")["policyText"]) == policy
    other.initiate_layer_upload(registryId="111111111111", repositoryName="shared")
    owner.delete_repository_policy(repositoryName="shared")
    with pytest.raises(ClientError):
        other.initiate_layer_upload(registryId="111111111111", repositoryName="shared")
    with pytest.raises(ClientError) as raised:
        owner.get_repository_policy(repositoryName="shared")
    assert error_of(raised)[0] == "RepositoryPolicyNotFoundException"


def test_the_registry_token_flow_in_process():
    """In-process the public registry is ``public.ecr.aws``: an anonymous token from its
    token endpoint pulls; a push needs ECR Public's password."""
    with mock_ecr():
        public = public_client()
        created = public.create_repository(
            repositoryName="inproc", catalogData={"logoImageBlob": PNG}
        )
        logo = requests.get(created["catalogData"]["logoUrl"], timeout=10)  # answered in-process
        assert logo.status_code == 200 and logo.content == PNG
        config, layer, manifest = small_image()
        alias = public.describe_registries()["registries"][0]["aliases"][0]["name"]
        base = f"https://public.ecr.aws/v2/{alias}/inproc"
        refused = requests.post(f"{base}/blobs/uploads/", timeout=10)
        assert refused.status_code == 401
        assert refused.headers["WWW-Authenticate"].startswith("Bearer realm=")
        token = base64.b64decode(
            public.get_authorization_token()["authorizationData"]["authorizationToken"]
        ).decode()
        user, _, password = token.partition(":")
        registry = requests.Session()
        registry.auth = (user, password)
        for blob in (config, layer):
            answer = registry.post(f"{base}/blobs/uploads/?digest={digest_of(blob)}", data=blob)
            assert answer.status_code == 201
            assert answer.headers["Location"].startswith(f"/v2/{alias}/inproc/blobs/")
        put = registry.put(
            f"{base}/manifests/1.0", data=manifest, headers={"Content-Type": OCI_MANIFEST}
        )
        assert put.status_code == 201
        anonymous = requests.get("https://public.ecr.aws/v2/token", timeout=10).json()["token"]
        pulled = requests.get(
            f"{base}/manifests/1.0",
            headers={"Authorization": f"Bearer {anonymous}", "Accept": OCI_MANIFEST},
            timeout=10,
        )
        assert pulled.status_code == 200
        assert requests.get(f"{base}/tags/list", timeout=10).json()["tags"] == ["1.0"]
        denied = requests.delete(
            f"{base}/manifests/1.0", headers={"Authorization": f"Bearer {anonymous}"}, timeout=10
        )
        assert denied.status_code == 401
        # an anonymous token opens no private repository
        private = boto3.client(
            "ecr", region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t"
        )
        private.create_repository(repositoryName="inproc")
        endpoint = private.get_authorization_token()["authorizationData"][0]["proxyEndpoint"]
        closed = requests.get(
            f"{endpoint}/v2/inproc/tags/list",
            headers={"Authorization": f"Bearer {anonymous}"},
            timeout=10,
        )
        assert closed.status_code == 403
        assert requests.get("https://public.ecr.aws/v2/nobody/x/tags/list").status_code == 404


def test_alias_from_the_admin_route_and_kept_across_a_restart(tmp_path):
    data = tmp_path / "data"
    with serving(PYTHON_MODULE, tmp_path / "one.log", "--data-dir", str(data)) as server:
        answer = requests.post(
            f"{server.url}/_emulator/public/alias", json={"alias": "my-team"}, timeout=10
        )
        assert answer.json() == {"account": "123456789012", "alias": "my-team"}
        bad = requests.post(
            f"{server.url}/_emulator/public/alias", json={"alias": "9starts-with-digit"}
        )
        assert bad.status_code == 400
        public = public_client(server.url)
        public.create_repository(repositoryName="kept", catalogData={"description": "kept"})
        public.put_registry_catalog_data(displayName="Kept")
        config, layer, manifest = small_image()
        push_layers_through_the_api(public, "kept", config, layer)
        public.put_image(repositoryName="kept", imageManifest=manifest, imageTag="v1")
    with serving(PYTHON_MODULE, tmp_path / "two.log", "--data-dir", str(data)) as server:
        public = public_client(server.url)
        (registry,) = public.describe_registries()["registries"]
        assert registry["aliases"][0]["name"] == "my-team"
        assert registry["aliases"][0]["defaultRegistryAlias"] is False
        assert public.get_registry_catalog_data()["registryCatalogData"]["displayName"] == "Kept"
        catalog = public.get_repository_catalog_data(repositoryName="kept")["catalogData"]
        assert catalog["description"] == "kept"
        pulled = requests.get(
            f"{server.url}/v2/public.ecr.aws/my-team/kept/blobs/{digest_of(layer)}", timeout=10
        )
        assert pulled.content == layer


# --- the aws CLI and docker -------------------------------------------------------------------


def test_catalog_data_round_trips_through_the_aws_cli(ecr_server):
    where = ["--region", "us-east-1", "--output", "json", "--endpoint-url", ecr_server.url]

    def aws(*args: str) -> dict:
        done = subprocess.run(
            [*aws_cli(), "ecr-public", *args, *where],
            env=aws_env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout) if done.stdout.strip() else {}

    aws("create-repository", "--repository-name", "cli/tool")
    aws(
        "put-repository-catalog-data",
        "--repository-name",
        "cli/tool",
        "--catalog-data",
        json.dumps({"description": "from the CLI", "operatingSystems": ["Linux"]}),
    )
    got = aws("get-repository-catalog-data", "--repository-name", "cli/tool")["catalogData"]
    assert got["description"] == "from the CLI" and got["operatingSystems"] == ["Linux"]
    aws("put-registry-catalog-data", "--display-name", "CLI team")
    assert aws("get-registry-catalog-data")["registryCatalogData"]["displayName"] == "CLI team"


def test_docker_push_with_a_login_then_anonymous_pull_and_skopeo(tmp_path):
    """Issue 10's flow: ``aws ecr-public get-login-password | docker login``, push, logout,
    then a pull and ``skopeo inspect`` with no login; an anonymous push is refused."""
    require_docker()
    require_file(BUSYBOX, "busybox-static")
    docker = Docker(tmp_path / "docker-config", run_label())
    with serving(
        PYTHON_MODULE, tmp_path / "server.log", "--registry-host", "--public-alias", "docker-team"
    ) as server:
        try:
            cli = [*aws_cli(), "ecr-public", "--region", "us-east-1", "--endpoint-url", server.url]
            created = subprocess.run(
                [*cli, "create-repository", "--repository-name", "hello", "--output", "json"],
                env=aws_env(),
                capture_output=True,
                text=True,
                check=True,
            )
            uri = json.loads(created.stdout)["repository"]["repositoryUri"]
            assert uri == f"{server.host}/public.ecr.aws/docker-team/hello"
            password = subprocess.run(
                [*cli, "get-login-password"],
                env=aws_env(),
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
            docker("login", "--username", "AWS", "--password-stdin", server.host, input=password)
            local = docker.build_busybox(tmp_path / "image", f"{uri}:1.0", "hello from public")
            docker("push", local)
            docker("logout", server.host)
            docker("rmi", local)
            docker("pull", f"{uri}:1.0")
            ran = docker("run", "--rm", "--network", "none", f"{uri}:1.0")
            assert ran.stdout.strip() == "hello from public"
            inspected = subprocess.run(
                ["skopeo", "inspect", "--tls-verify=false", f"docker://{uri}:1.0"],
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert inspected.returncode == 0, inspected.stderr
            assert json.loads(inspected.stdout)["Name"] == uri
            public = public_client(server.url)
            (image,) = public.describe_images(repositoryName="hello")["imageDetails"]
            assert image["imageTags"] == ["1.0"]
            assert json.loads(inspected.stdout)["Digest"] == image["imageDigest"]
            tags = public.describe_image_tags(repositoryName="hello")["imageTagDetails"]
            assert [t["imageTag"] for t in tags] == ["1.0"]
            docker("tag", f"{uri}:1.0", f"{uri}:anonymous")
            refused = docker("push", f"{uri}:anonymous", check=False)
            assert refused.returncode != 0
            assert "unauthorized" in (refused.stdout + refused.stderr).lower()
            assert [t["imageTag"] for t in tags] == ["1.0"]
            assert "Traceback" not in server.log_text()
        finally:
            docker.remove_test_images()


def test_either_password_acts_as_its_account_on_either_path(ecr_server):
    """docker keeps one login per host, and a server's one host serves both services: the
    path says which registry a request is for, and a password of either service acts as
    its account there (a CI job that logs in once pushes to both)."""
    public = public_client(ecr_server.url)
    private = private_client(ecr_server.url)
    data = public.get_authorization_token()["authorizationData"]
    lifetime = data["expiresAt"].timestamp() - time.time()
    assert 11.9 * 3600 < lifetime <= 12 * 3600  # the public token shape: 12 hours, no endpoint
    assert set(data) == {"authorizationToken", "expiresAt"}
    public_password = base64.b64decode(data["authorizationToken"]).decode().partition(":")[2]
    private_password = RegistryClient(private, ecr_server.url).password
    public.create_repository(repositoryName="both")
    private.create_repository(repositoryName="both")
    alias = public.describe_registries()["registries"][0]["aliases"][0]["name"]
    config, layer, _ = small_image()
    for password, base, blob in [
        (public_password, f"{ecr_server.url}/v2/both", layer),
        (private_password, f"{ecr_server.url}/v2/public.ecr.aws/{alias}/both", config),
    ]:
        pushed = requests.post(
            f"{base}/blobs/uploads/?digest={digest_of(blob)}",
            data=blob,
            auth=("AWS", password),
            timeout=10,
        )
        assert pushed.status_code == 201, pushed.text
    # each landed in the registry its path named, not the one its password came from
    private_layers = private.batch_check_layer_availability(
        repositoryName="both", layerDigests=[digest_of(layer), digest_of(config)]
    )["layers"]
    public_layers = public.batch_check_layer_availability(
        repositoryName="both", layerDigests=[digest_of(layer), digest_of(config)]
    )["layers"]
    assert [item["layerAvailability"] for item in private_layers] == ["AVAILABLE", "UNAVAILABLE"]
    assert [item["layerAvailability"] for item in public_layers] == ["UNAVAILABLE", "AVAILABLE"]


def test_what_a_hostile_review_found(ecr_server):
    """Another account's default alias cannot be taken (nor any alias of that form); a logo
    that is not base64 is a 400; "public" is no region for a private client; an upload's
    status asks for a login."""
    answer = requests.post(
        f"{ecr_server.url}/_emulator/public/alias",
        json={"alias": default_public_alias("333333333333"), "account": "222222222222"},
        timeout=10,
    )
    assert answer.status_code == 400 and "reserved" in answer.json()["message"]
    taken = requests.post(
        f"{ecr_server.url}/_emulator/public/alias",
        json={"alias": "team-one", "account": "222222222222"},
        timeout=10,
    )
    assert taken.status_code == 200
    again = requests.post(
        f"{ecr_server.url}/_emulator/public/alias",
        json={"alias": "team-one", "account": "333333333333"},
        timeout=10,
    )
    assert again.status_code == 400 and "taken" in again.json()["message"]

    raw = requests.post(
        ecr_server.url + "/",
        data=json.dumps({"repositoryName": "logo", "catalogData": {"logoImageBlob": "!!!"}}),
        headers={
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": "SpencerFrontendService.CreateRepository",
        },
        timeout=10,
    )
    assert raw.status_code == 400 and raw.json()["__type"] == "SerializationException"
    public = public_client(ecr_server.url)
    with pytest.raises(ClientError):  # a bad catalog created nothing
        public.describe_repositories(repositoryNames=["logo"])

    nowhere = boto3.client(
        "ecr",
        region_name="public",
        endpoint_url=ecr_server.url,
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    with pytest.raises(ClientError) as raised:
        nowhere.describe_repositories()
    assert error_of(raised)[:2] == ("InvalidSignatureException", 403)

    public.create_repository(repositoryName="uploads")
    upload = public.initiate_layer_upload(repositoryName="uploads")["uploadId"]
    alias = public.describe_registries()["registries"][0]["aliases"][0]["name"]
    status = requests.get(
        f"{ecr_server.url}/v2/public.ecr.aws/{alias}/uploads/blobs/uploads/{upload}", timeout=10
    )
    assert status.status_code == 401


def test_describe_repositories_pages_and_delete_needs_force(ecr_server):
    public = public_client(ecr_server.url)
    for number in range(5):
        public.create_repository(repositoryName=f"paged/r{number}")
    first = public.describe_repositories(maxResults=2)
    names = [r["repositoryName"] for r in first["repositories"]]
    token = first["nextToken"]
    while token:
        page = public.describe_repositories(maxResults=2, nextToken=token)
        names += [r["repositoryName"] for r in page["repositories"]]
        token = page.get("nextToken")
    assert sorted(names) == [f"paged/r{number}" for number in range(5)]
    config, layer, manifest = small_image()
    push_layers_through_the_api(public, "paged/r0", config, layer)
    public.put_image(repositoryName="paged/r0", imageManifest=manifest, imageTag="v1")
    with pytest.raises(ClientError) as raised:
        public.delete_repository(repositoryName="paged/r0")
    assert error_of(raised)[0] == "RepositoryNotEmptyException"
    public.delete_repository(repositoryName="paged/r0", force=True)


def test_identity_mode_judges_ecr_public_actions():
    """Under ``enforce_iam`` ECR Public's operations need ``ecr-public:`` actions on its
    ARNs, the registry-level ones too; ``ecr:*`` grants none of them."""
    publisher = {
        "accessKeyId": "AKIAPUBLISHER001",
        "arn": "arn:aws:iam::111111111111:user/publisher",
        "policies": [
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": ["ecr-public:*"],
                        "Resource": "arn:aws:ecr-public::111111111111:repository/*",
                    }
                ],
            }
        ],
    }
    private_only = {
        "accessKeyId": "AKIAPRIVATEONLY1",
        "arn": "arn:aws:iam::111111111111:user/private",
        "policies": [
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": ["ecr:*"], "Resource": "*"}],
            }
        ],
    }
    with mock_ecr(enforce_iam=True, principals=[publisher, private_only]):
        allowed = public_client(account="AKIAPUBLISHER001")
        allowed.create_repository(repositoryName="judged", catalogData={"description": "d"})
        assert allowed.get_authorization_token()["authorizationData"]["authorizationToken"]
        assert allowed.describe_registries()["registries"][0]["registryId"] == "111111111111"
        refused = public_client(account="AKIAPRIVATEONLY1")
        for call in (
            refused.get_authorization_token,
            refused.describe_registries,
            lambda: refused.create_repository(repositoryName="nope"),
            lambda: refused.describe_repositories(repositoryNames=["judged"]),
        ):
            with pytest.raises(ClientError) as raised:
                call()
            code, _, message = error_of(raised)
            assert code == "AccessDeniedException" and "ecr-public:" in message
        assert [r["repositoryName"] for r in allowed.describe_repositories()["repositories"]] == [
            "judged"
        ]


def test_what_a_second_hostile_review_found(tmp_path):
    """A chunked token form is read no further than 16 KiB; a ping needs a login that works;
    a tab may separate the scheme; /v2/token takes GET and POST only; and in identity mode
    a password opens only its own service's repositories, so a principal refused
    ``ecr:GetAuthorizationToken`` cannot pull private images with an ECR Public password."""
    config = tmp_path / "iam.json"
    config.write_text(
        json.dumps(
            {
                "principals": [
                    {
                        "accessKeyId": "AKIANOLOGIN00001",
                        "arn": "arn:aws:iam::111111111111:user/nologin",
                        "policies": [
                            {
                                "Version": "2012-10-17",
                                "Statement": [
                                    {"Effect": "Allow", "Action": "*", "Resource": "*"},
                                    {
                                        "Effect": "Deny",
                                        "Action": "ecr:GetAuthorizationToken",
                                        "Resource": "*",
                                    },
                                ],
                            }
                        ],
                    }
                ]
            }
        )
    )
    with serving(
        PYTHON_MODULE, tmp_path / "s.log", "--enforce-iam", "--iam-config", str(config)
    ) as server:
        private = boto3.client(
            "ecr",
            region_name="us-east-1",
            endpoint_url=server.url,
            aws_access_key_id="AKIANOLOGIN00001",
            aws_secret_access_key="x",
        )
        private.create_repository(repositoryName="kept-private")
        with pytest.raises(ClientError) as raised:
            private.get_authorization_token()
        assert error_of(raised)[0] == "AccessDeniedException"
        public = public_client(server.url, account="AKIANOLOGIN00001")
        token = public.get_authorization_token()["authorizationData"]["authorizationToken"]
        password = base64.b64decode(token).decode().partition(":")[2]
        sneaked = requests.get(
            f"{server.url}/v2/kept-private/tags/list", auth=("AWS", password), timeout=10
        )
        assert sneaked.status_code == 403
        assert sneaked.json()["errors"][0]["code"] == "DENIED"

        def chunks():
            yield b"grant_type=refresh_token&refresh_token="
            for _ in range(64):  # 64 MiB, never read
                yield b"a" * 2**20

        before = server.status("VmRSS")
        big = requests.post(
            f"{server.url}/v2/token",
            data=chunks(),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            timeout=60,
        )
        assert big.status_code == 413
        assert server.status("VmRSS") - before < 32 * 1024  # kB
        for header in ("Negotiate x", "Bearer ", "Basic Og==", "Bearer forged"):
            ping = requests.get(f"{server.url}/v2/", headers={"Authorization": header})
            assert ping.status_code == 401, header
        tabbed = requests.get(
            f"{server.url}/v2/token", headers={"Authorization": f"Bearer\t{password}"}
        )
        assert tabbed.json()["token"] == password  # the login, not an anonymous token
        assert requests.delete(f"{server.url}/v2/token", timeout=10).status_code == 405
