"""``mock_ecr`` as decorator, class decorator and context manager, through real boto3 clients.

Clients here point at a closed port (127.0.0.1:9) with retries off: inside a mock
the emulator answers before anything is sent; outside, the call must fail to
connect, which proves nothing of the mock is left behind.
"""

from __future__ import annotations

import asyncio
import os
import threading
import unittest

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, EndpointConnectionError

from ecr_emulator import mock_ecr

CLOSED_PORT = "http://127.0.0.1:9"
NO_RETRY = Config(retries={"max_attempts": 0}, connect_timeout=1, read_timeout=1)


def closed_port_client(service: str = "ecr", region: str = "us-east-1"):
    return boto3.client(service, region_name=region, endpoint_url=CLOSED_PORT, config=NO_RETRY)


def names(client) -> list[str]:
    return sorted(repo["repositoryName"] for repo in client.describe_repositories()["repositories"])


def assert_not_answered(client) -> None:
    with pytest.raises(EndpointConnectionError):
        client.describe_repositories()


# --- function decorator ----------------------------------------------------------------------


@mock_ecr
def test_function_decorator_answers_in_process():
    client = closed_port_client()
    client.create_repository(repositoryName="decorated")
    assert names(client) == ["decorated"]


@mock_ecr()
def test_function_decorator_with_parentheses():
    assert names(closed_port_client()) == []


@mock_ecr(registry_host="localhost:5000")
def test_function_decorator_with_options():
    created = closed_port_client().create_repository(repositoryName="opts")["repository"]
    assert created["repositoryUri"] == "localhost:5000/opts"


@mock_ecr
def test_function_decorator_keeps_fixture_injection(tmp_path, monkeypatch):
    assert tmp_path.is_dir()
    monkeypatch.setenv("ECR_EMULATOR_PROBE", "1")
    assert names(closed_port_client()) == []


def test_decorated_function_gets_fresh_state_per_call_and_passes_results_and_errors():
    @mock_ecr
    def create(name: str) -> list[str]:
        client = closed_port_client()
        client.create_repository(repositoryName=name)
        return names(client)

    assert create("first") == ["first"]
    assert create("first") == ["first"]  # a leak would raise RepositoryAlreadyExistsException

    @mock_ecr
    def fails() -> None:
        closed_port_client().describe_repositories(repositoryNames=["missing"])

    with pytest.raises(ClientError) as raised:
        fails()
    assert raised.value.response["Error"]["Code"] == "RepositoryNotFoundException"
    assert_not_answered(closed_port_client())


# --- class decorator -------------------------------------------------------------------------


@mock_ecr
class TestClassDecorator:
    """Each method creates the same repository: leaked state would make one of them fail."""

    def helper_not_a_test(self) -> str:
        return "untouched"

    def test_first(self):
        client = closed_port_client()
        client.create_repository(repositoryName="per-method")
        assert names(client) == ["per-method"]

    def test_second(self):
        client = closed_port_client()
        client.create_repository(repositoryName="per-method")
        assert names(client) == ["per-method"]
        assert self.helper_not_a_test() == "untouched"


class InheritedChecks:
    """Not collected itself (no ``Test`` prefix); its test method runs through the subclass."""

    def test_inherited_method_is_mocked_too(self):
        client = closed_port_client()
        client.create_repository(repositoryName="inherited")
        assert names(client) == ["inherited"]


@mock_ecr
class TestInheritedMethods(InheritedChecks):
    pass


def test_class_decorator_leaves_the_base_class_alone():
    base = InheritedChecks.__dict__["test_inherited_method_is_mocked_too"]
    assert TestInheritedMethods.__dict__["test_inherited_method_is_mocked_too"] is not base
    with pytest.raises(EndpointConnectionError):
        base(InheritedChecks())


@mock_ecr
class TestUnittestCaseDecorator(unittest.TestCase):
    """setUp, the test and tearDown share one fresh mock per test method."""

    def setUp(self):
        self.client = closed_port_client()
        self.client.create_repository(repositoryName="from-setup")

    def tearDown(self):
        # Still inside the same mock: the repository made in setUp is there.
        assert "from-setup" in names(self.client)

    def test_sees_what_set_up_made(self):
        self.assertEqual(names(self.client), ["from-setup"])
        self.client.create_repository(repositoryName="only-here")

    def test_does_not_see_the_other_method(self):
        self.assertEqual(names(self.client), ["from-setup"])


def test_unittest_case_decorator_leaves_nothing_behind():
    @mock_ecr
    class Case(unittest.TestCase):
        def test_one(self):
            closed_port_client().create_repository(repositoryName="in-case")

    result = unittest.TestResult()
    unittest.defaultTestLoader.loadTestsFromTestCase(Case).run(result)
    assert (result.testsRun, result.errors, result.failures) == (1, [], [])
    assert_not_answered(closed_port_client())


# --- context manager -------------------------------------------------------------------------


def test_context_manager_and_nothing_leaks_after_exit():
    client = closed_port_client()
    with mock_ecr() as mock:
        client.create_repository(repositoryName="ctx")
        assert names(client) == ["ctx"]
        assert list(mock.backend.find_registry("123456789012", "us-east-1").repositories) == ["ctx"]
    assert_not_answered(client)
    assert_not_answered(closed_port_client())


def test_client_created_before_the_mock_started_is_intercepted():
    before = closed_port_client()
    public_before = closed_port_client("ecr-public")
    with mock_ecr():
        before.create_repository(repositoryName="early")
        assert names(before) == ["early"]
        public_before.create_repository(repositoryName="early-public")
        assert [
            r["repositoryName"] for r in public_before.describe_repositories()["repositories"]
        ] == ["early-public"]


def test_default_boto3_session_client_is_intercepted():
    client = boto3.client("ecr", endpoint_url=CLOSED_PORT, config=NO_RETRY)
    with mock_ecr():
        assert names(client) == []


def test_each_context_starts_fresh():
    client = closed_port_client()
    with mock_ecr():
        client.create_repository(repositoryName="once")
    with mock_ecr():
        assert names(client) == []
        client.create_repository(repositoryName="once")
        assert names(client) == ["once"]


def test_nested_contexts_innermost_answers_then_outer_resumes():
    client = closed_port_client()
    with mock_ecr():
        client.create_repository(repositoryName="outer")
        with mock_ecr():
            assert names(client) == []
            client.create_repository(repositoryName="inner")
        assert names(client) == ["outer"]
    assert_not_answered(client)


def test_stop_and_start_again_keeps_state():
    client = closed_port_client()
    mock = mock_ecr().start()
    try:
        client.create_repository(repositoryName="kept")
        mock.stop()
        assert_not_answered(client)
        mock.start()
        assert names(client) == ["kept"]
    finally:
        mock.stop()
    assert_not_answered(client)


def test_exception_inside_context_still_stops_the_mock():
    client = closed_port_client()
    with pytest.raises(RuntimeError), mock_ecr():
        client.create_repository(repositoryName="boom")
        raise RuntimeError("boom")
    assert_not_answered(client)


def test_clients_on_other_threads_are_answered():
    seen: list[object] = []

    def work() -> None:
        try:
            client = closed_port_client()
            client.create_repository(repositoryName="threaded")
            seen.append(names(client))
        except Exception as exc:  # reported below
            seen.append(exc)

    with mock_ecr():
        worker = threading.Thread(target=work)
        worker.start()
        worker.join(10)
        assert seen == [["threaded"]]
        assert names(closed_port_client()) == ["threaded"]


# --- which services ---------------------------------------------------------------------------


def test_ecr_public_is_intercepted_while_the_mock_runs():
    public = closed_port_client("ecr-public", region="us-east-1")
    with mock_ecr():
        assert public.describe_repositories()["repositories"] == []
    with pytest.raises(EndpointConnectionError):
        public.describe_repositories()


def test_ecr_public_without_endpoint_is_intercepted_too():
    with mock_ecr():
        public = boto3.client("ecr-public", region_name="us-east-1", config=NO_RETRY)
        (registry,) = public.describe_registries()["registries"]
        assert registry["registryUri"].startswith("public.ecr.aws/")


def test_other_services_are_not_intercepted():
    sts = closed_port_client("sts")
    with mock_ecr(), pytest.raises(EndpointConnectionError):
        sts.get_caller_identity()


# --- credentials -----------------------------------------------------------------------------


def test_fake_credentials_are_provided_and_removed(monkeypatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    with mock_ecr():
        assert os.environ["AWS_ACCESS_KEY_ID"] == "testing"
        assert os.environ["AWS_DEFAULT_REGION"] == "us-east-1"
        client = boto3.session.Session().client("ecr", config=NO_RETRY)  # no region or keys
        client.create_repository(repositoryName="env")
        assert client.describe_repositories()["repositories"][0]["registryId"] == "123456789012"
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"):
        assert name not in os.environ


def test_existing_credentials_are_kept(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "111111111111")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    with mock_ecr():
        client = boto3.session.Session().client("ecr")  # a new session reads the environment
        created = client.create_repository(repositoryName="mine")["repository"]
        assert created["repositoryArn"] == "arn:aws:ecr:eu-west-1:111111111111:repository/mine"
    assert os.environ["AWS_ACCESS_KEY_ID"] == "111111111111"
    assert os.environ["AWS_DEFAULT_REGION"] == "eu-west-1"


def test_decorated_coroutine_runs_its_awaited_body_inside_the_mock():
    @mock_ecr
    async def create_and_list() -> list[str]:
        await asyncio.sleep(0)
        ecr = boto3.client("ecr", region_name="us-east-1")
        ecr.create_repository(repositoryName="async/repo")
        await asyncio.sleep(0)
        return [r["repositoryName"] for r in ecr.describe_repositories()["repositories"]]

    assert asyncio.iscoroutinefunction(create_and_list)
    assert asyncio.run(create_and_list()) == ["async/repo"]


# --- what importing and starting a mock touch ------------------------------------------------


def test_importing_the_package_or_a_submodule_patches_nothing():
    """Only a started mock wraps botocore; importing a piece of the package does not."""
    script = """
import botocore.endpoint, botocore.handlers
send = botocore.endpoint.Endpoint._send
handlers = list(botocore.handlers.BUILTIN_HANDLERS)
import ecr_emulator.blobstore, ecr_emulator.state, ecr_emulator
from ecr_emulator import mock_ecr
assert botocore.endpoint.Endpoint._send is send, "patched on import"
assert botocore.handlers.BUILTIN_HANDLERS == handlers, "a handler added on import"
with mock_ecr():
    assert botocore.endpoint.Endpoint._send is not send
assert botocore.endpoint.Endpoint._send is send, "not put back after the last mock"
print("ok")
"""
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert result.stdout.strip() == "ok", result.stderr


def test_two_threads_each_see_only_their_own_mock():
    both_inside = threading.Barrier(2, timeout=10)
    both_created = threading.Barrier(2, timeout=10)
    seen: dict[str, list[str]] = {}
    errors: list[BaseException] = []

    def work(name: str) -> None:
        try:
            with mock_ecr():
                both_inside.wait()
                client = closed_port_client()
                client.create_repository(repositoryName=name)
                both_created.wait()
                seen[name] = names(client)
        except BaseException as error:  # reported below, on the test's thread
            errors.append(error)

    threads = [threading.Thread(target=work, args=(name,)) for name in ("first", "second")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert errors == []
    assert seen == {"first": ["first"], "second": ["second"]}


def test_a_worker_thread_of_a_mocked_test_sees_that_mock():
    from concurrent.futures import ThreadPoolExecutor

    with mock_ecr():
        closed_port_client().create_repository(repositoryName="from-the-test")
        with ThreadPoolExecutor(2) as pool:
            listed = pool.submit(lambda: names(closed_port_client())).result(10)
    assert listed == ["from-the-test"]
    assert_not_answered(closed_port_client())
