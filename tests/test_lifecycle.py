"""Lifecycle policies through boto3: ECR's validation, the user guide's examples (each one's
images and outcome reproduced), previews that match runs, archive and restore.

The examples are those of "Examples of lifecycle policies in Amazon ECR"
(https://docs.aws.amazon.com/AmazonECR/latest/userguide/lifecycle_policy_examples.html).
Where the page gives a repository and a result (multiple rules A/B, multiple tags A/B,
all images A/B) they are used as given; where it gives only the policy, the images
are ours and the expected result follows the page's description of the policy.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field

import pytest
from botocore.exceptions import ClientError
from conftest import docker_manifest, ecr_client

from ecr_emulator import mock_ecr
from ecr_emulator.clock import ManualClock

REPO = "lifecycle/app"
NOW = dt.datetime(2026, 6, 1, tzinfo=dt.timezone.utc)


def rule(priority, selection, action="expire", **more_action):
    return {
        "rulePriority": priority,
        "description": f"Rule {priority}",
        "selection": selection,
        "action": {"type": action, **more_action},
    }


def policy(*rules) -> str:
    return json.dumps({"rules": list(rules)})


@dataclass
class Pushed:
    label: str
    tags: list[str]
    age: dt.timedelta
    pulled_ago: dt.timedelta | None = None


def days(n: float) -> dt.timedelta:
    return dt.timedelta(days=n)


@dataclass
class Example:
    name: str
    text: str
    images: list[Pushed]
    expected: dict[str, str]  # label -> EXPIRE / TRANSITION; the rest stay
    archived_before: dict[str, dt.timedelta] = field(default_factory=dict)  # label -> ago


PROD_14 = rule(
    1,
    {
        "tagStatus": "tagged",
        "tagPatternList": ["prod*"],
        "countType": "sinceImagePushed",
        "countUnit": "days",
        "countNumber": 14,
    },
)
BETA_KEEP_1 = {
    "tagStatus": "tagged",
    "tagPatternList": ["beta*"],
    "countType": "imageCountMoreThan",
    "countNumber": 1,
}
PROD_KEEP_1 = {**BETA_KEEP_1, "tagPatternList": ["prod*"]}
ARCHIVE = {"targetStorageClass": "archive"}
NOT_PULLED_90 = {
    "tagStatus": "any",
    "countType": "sinceImagePulled",
    "countUnit": "days",
    "countNumber": 90,
}
ARCHIVED_365 = {
    "tagStatus": "any",
    "storageClass": "archive",
    "countType": "sinceImageTransitioned",
    "countUnit": "days",
    "countNumber": 365,
}
MULTI_RULE_IMAGES = [
    Pushed("A", ["beta-1", "prod-1"], days(10)),
    Pushed("B", ["beta-2", "prod-2"], days(9)),
    Pushed("C", ["beta-3"], days(8)),
]

USER_GUIDE_EXAMPLES = [
    Example(
        "filtering on image age",
        policy(PROD_14),
        [
            Pushed("old-prod", ["prod-1"], days(15)),
            Pushed("old-production", ["production"], days(20)),
            Pushed("new-prod", ["prod-2"], days(13)),
            Pushed("old-dev", ["dev-1"], days(30)),
            Pushed("old-untagged", [], days(30)),
        ],
        {"old-prod": "EXPIRE", "old-production": "EXPIRE"},
    ),
    Example(
        "filtering on last pulled time",
        policy(rule(1, NOT_PULLED_90, "transition", **ARCHIVE)),
        [
            Pushed("never-pulled-old", ["a"], days(100)),
            Pushed("pulled-lately", ["b"], days(200), pulled_ago=days(10)),
            Pushed("pulled-long-ago", [], days(300), pulled_ago=days(120)),
            Pushed("never-pulled-new", ["c"], days(30)),
        ],
        {"never-pulled-old": "TRANSITION", "pulled-long-ago": "TRANSITION"},
    ),
    Example(
        "filtering on archive transition time",
        policy(rule(1, ARCHIVED_365)),
        [
            Pushed("archived-long-ago", ["a"], days(800)),
            Pushed("archived-lately", ["b"], days(800)),
            Pushed("active-old", ["c"], days(800)),
        ],
        {"archived-long-ago": "EXPIRE"},
        archived_before={"archived-long-ago": days(400), "archived-lately": days(100)},
    ),
    Example(
        "filtering on image count",
        policy(
            rule(1, {"tagStatus": "untagged", "countType": "imageCountMoreThan", "countNumber": 1})
        ),
        [
            Pushed("untagged-1", [], days(3)),
            Pushed("untagged-2", [], days(2)),
            Pushed("untagged-3", [], days(1)),
            Pushed("tagged", ["v1"], days(5)),
        ],
        {"untagged-1": "EXPIRE", "untagged-2": "EXPIRE"},
    ),
    Example(
        "multiple rules, example A",
        policy(rule(1, PROD_KEEP_1), rule(2, BETA_KEEP_1)),
        MULTI_RULE_IMAGES,
        {"A": "EXPIRE"},  # "Result: Image A is expired."
    ),
    Example(
        "multiple rules, example B",
        policy(rule(1, BETA_KEEP_1), rule(2, PROD_KEEP_1)),
        MULTI_RULE_IMAGES,
        {"A": "EXPIRE", "B": "EXPIRE"},  # "Result: Images A and B are expired."
    ),
    Example(
        "multiple tags in a single rule, example A",
        policy(
            rule(
                1,
                {
                    "tagStatus": "tagged",
                    "tagPatternList": ["alpha*", "beta*"],
                    "countType": "sinceImagePushed",
                    "countNumber": 5,
                    "countUnit": "days",
                },
            )
        ),
        [
            Pushed("A", ["alpha-1"], days(12)),
            Pushed("B", ["beta-1"], days(11)),
            Pushed("C", ["alpha-2", "beta-2"], days(10)),
            Pushed("D", ["alpha-3"], days(4)),
            Pushed("E", ["beta-3"], days(3)),
            Pushed("F", ["alpha-4", "beta-4"], days(2)),
        ],
        {"C": "EXPIRE"},  # "Result: Image C is expired."
    ),
    Example(
        "multiple tags in a single rule, example B",
        policy(
            rule(
                1,
                {
                    "tagStatus": "tagged",
                    "tagPatternList": ["alpha*", "beta*"],
                    "countType": "imageCountMoreThan",
                    "countNumber": 1,
                },
            )
        ),
        [
            Pushed("A", ["alpha-1", "beta-1", "gamma-1"], days(10)),
            Pushed("B", ["alpha-2", "beta-2"], days(9)),
            Pushed("C", ["alpha-3", "beta-3", "gamma-2"], days(8)),
        ],
        {"A": "EXPIRE", "B": "EXPIRE"},  # "Result: Images A and B are expired."
    ),
    Example(
        "all images, example A",
        policy(rule(1, {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 1})),
        [
            Pushed("A", ["alpha-1"], days(4)),
            Pushed("B", ["beta-1"], days(3)),
            Pushed("C", [], days(2)),
            Pushed("D", ["alpha-2"], days(1)),
        ],
        {"A": "EXPIRE", "B": "EXPIRE", "C": "EXPIRE"},  # "Images A, B, and C are expired."
    ),
    Example(
        "all images, example B",
        policy(
            rule(
                1,
                {
                    "tagStatus": "tagged",
                    "tagPatternList": ["alpha*"],
                    "countType": "imageCountMoreThan",
                    "countNumber": 1,
                },
            ),
            rule(
                2,
                {
                    "tagStatus": "untagged",
                    "countType": "sinceImagePushed",
                    "countUnit": "days",
                    "countNumber": 1,
                },
            ),
            rule(3, {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 1}),
        ),
        [
            Pushed("A", ["alpha-1", "beta-1"], days(4)),
            Pushed("B", [], days(3)),
            Pushed("C", ["alpha-2"], days(2)),
            Pushed("D", ["git-hash"], days(1)),  # the page's tag "git hash" is no valid tag
            Pushed("E", [], days(1) - dt.timedelta(minutes=1)),  # pushed after D: the newest
        ],
        {"A": "EXPIRE", "B": "EXPIRE", "D": "EXPIRE"},  # "Images A, B, and D are expired."
    ),
    Example(
        "archive images older than a number of days",
        policy(
            rule(
                1,
                {
                    "tagStatus": "tagged",
                    "tagPatternList": ["prod*"],
                    "countType": "sinceImagePushed",
                    "countUnit": "days",
                    "countNumber": 30,
                },
                "transition",
                **ARCHIVE,
            )
        ),
        [
            Pushed("old-prod", ["prod-1"], days(31)),
            Pushed("new-prod", ["prod-2"], days(29)),
            Pushed("old-test", ["test-1"], days(60)),
        ],
        {"old-prod": "TRANSITION"},
    ),
    Example(
        "archive images not pulled in a number of days",
        policy(rule(1, NOT_PULLED_90, "transition", **ARCHIVE)),
        [
            Pushed("idle", ["a"], days(365), pulled_ago=days(91)),
            Pushed("busy", ["b"], days(365), pulled_ago=days(1)),
        ],
        {"idle": "TRANSITION"},
    ),
    Example(
        "combining archive and expire rules",
        policy(
            rule(
                1,
                {
                    "tagStatus": "any",
                    "countType": "sinceImagePushed",
                    "countUnit": "days",
                    "countNumber": 30,
                },
                "transition",
                **ARCHIVE,
            ),
            rule(2, ARCHIVED_365),
        ),
        [
            Pushed("archived-over-a-year", ["a"], days(900)),
            Pushed("archived-lately", ["b"], days(900)),
            Pushed("old-active", ["c"], days(40)),
            Pushed("new-active", ["d"], days(5)),
        ],
        {"archived-over-a-year": "EXPIRE", "old-active": "TRANSITION"},
        archived_before={"archived-over-a-year": days(366), "archived-lately": days(364)},
    ),
]


def build(client, mock: mock_ecr, clock: ManualClock, example: Example) -> dict[str, str]:
    """Push the example's images at their ages (oldest first), pull and archive them as it
    says; label -> digest."""
    client.create_repository(repositoryName=REPO)
    digests = {}
    events = []
    for image in example.images:
        events.append((NOW - image.age, "push", image))
        if image.pulled_ago is not None:
            events.append((NOW - image.pulled_ago, "pull", image))
        if image.label in example.archived_before:
            events.append((NOW - example.archived_before[image.label], "archive", image))
    for when, what, image in sorted(events, key=lambda event: event[0]):
        clock.set(when)
        if what == "push":
            manifest = docker_manifest(image.label)
            answer = client.put_image(
                repositoryName=REPO,
                imageManifest=manifest,
                **({"imageTag": image.tags[0]} if image.tags else {}),
            )
            digests[image.label] = answer["image"]["imageId"]["imageDigest"]
            for tag in image.tags[1:]:
                client.put_image(repositoryName=REPO, imageManifest=manifest, imageTag=tag)
        elif what == "pull":
            client.batch_get_image(
                repositoryName=REPO, imageIds=[{"imageDigest": digests[image.label]}]
            )
        else:
            client.update_image_storage_class(
                repositoryName=REPO,
                imageId={"imageDigest": digests[image.label]},
                targetStorageClass="ARCHIVE",
            )
    clock.set(NOW)
    return digests


@pytest.mark.parametrize("example", USER_GUIDE_EXAMPLES, ids=lambda e: e.name)
def test_user_guide_example(example: Example):
    """The preview names exactly the example's outcome, and a run does exactly that."""
    clock = ManualClock(NOW)
    with mock_ecr(clock=clock) as mock:
        client = ecr_client()
        digests = build(client, mock, clock, example)
        labels = {digest: label for label, digest in digests.items()}
        client.put_lifecycle_policy(repositoryName=REPO, lifecyclePolicyText=example.text)

        client.start_lifecycle_policy_preview(repositoryName=REPO)
        client.get_waiter("lifecycle_policy_preview_complete").wait(repositoryName=REPO)
        preview = client.get_lifecycle_policy_preview(repositoryName=REPO)
        assert preview["status"] == "COMPLETE"
        previewed = {
            labels[r["imageDigest"]]: r["action"]["type"] for r in preview["previewResults"]
        }
        assert previewed == example.expected

        taken = mock.run_lifecycle()
        assert {labels[a["imageDigest"]]: a["action"] for a in taken} == example.expected

        statuses = {
            labels[d["imageDigest"]]: d["imageStatus"]
            for d in client.describe_images(repositoryName=REPO)["imageDetails"]
        }
        for label in digests:
            if example.expected.get(label) == "EXPIRE":
                assert label not in statuses
            elif example.expected.get(label) == "TRANSITION" or label in example.archived_before:
                assert statuses[label] == "ARCHIVED"
            else:
                assert statuses[label] == "ACTIVE"
        assert mock.run_lifecycle() == []  # nothing left to do at the same moment


# --- validation ------------------------------------------------------------------------------

COUNT_1 = {"tagStatus": "untagged", "countType": "imageCountMoreThan", "countNumber": 1}
PREFIX = "Invalid parameter at 'LifecyclePolicyText' failed to satisfy constraint: "


def _selection(**changes):
    chosen = {**COUNT_1, **changes}
    return {k: v for k, v in chosen.items() if v is not None}


INVALID_POLICIES = [
    # (id, policy text, the detail after "Lifecycle policy validation failure: ")
    (
        "not json",
        "{" + " " * 120,
        "Could not map policyString into LifecyclePolicy.",
    ),
    (
        "no rules",
        json.dumps({"rulez": []}).ljust(100),
        'object instance has properties which are not allowed by the schema: (["rulez"])',
    ),
    (
        "rules missing",
        json.dumps({}).ljust(100),
        'object has missing required properties (["rules"])',
    ),
    (
        "rule without action",
        json.dumps({"rules": [{"rulePriority": 1, "selection": COUNT_1}]}),
        'object has missing required properties (["action"])',
    ),
    (
        "unknown action",
        policy(rule(1, COUNT_1, "keep")),
        'instance value (keep) not found in enum :(possible values: ["expire", "transition"])',
    ),
    (
        "unknown tag status",
        policy(rule(1, _selection(tagStatus="sometimes"))),
        'instance value (sometimes) not found in enum :(possible values: ["any", "tagged", "untagged"])',
    ),
    (
        "count number zero",
        policy(rule(1, _selection(countNumber=0))),
        "numeric instance is lower than the required minimum (minimum: 1, found: 0)",
    ),
    (
        "rule priority zero",
        policy(rule(0, COUNT_1)),
        "numeric instance is lower than the required minimum (minimum: 1, found: 0)",
    ),
    (
        "count unit with a count",
        policy(rule(1, _selection(countUnit="days"))),
        "instance failed to match exactly one schema (matched 0 out of 2)",
    ),
    (
        "age without a count unit",
        policy(rule(1, _selection(countType="sinceImagePushed"))),
        "instance failed to match exactly one schema (matched 0 out of 2)",
    ),
    (
        "count unit hours",
        policy(rule(1, _selection(countType="sinceImagePushed", countUnit="hours"))),
        'instance value (hours) not found in enum :(possible values: ["days"])',
    ),
    (
        "unknown count type",
        policy(rule(1, _selection(countType="imageCountLessThan"))),
        "instance failed to match exactly one schema (matched 0 out of 2)",
    ),
    (
        "null tag list",
        policy(rule(1, _selection(tagStatus="tagged") | {"tagPatternList": None})),
        'instance type (null) does not match any allowed primitive type (allowed: ["array"])',
    ),
    (
        "tagged without tags",
        policy(rule(1, _selection(tagStatus="tagged"))),
        "Must specify tagPrefixList or tagPatternList when tagStatus=TAGGED.",
    ),
    (
        "both tag lists",
        policy(rule(1, _selection(tagStatus="tagged", tagPrefixList=["a"], tagPatternList=["b*"]))),
        "A rule may specify either tagPrefixList or tagPatternList, but not both.",
    ),
    (
        "tag list on untagged",
        policy(rule(1, _selection(tagPrefixList=["a"]))),
        "tagPrefixList and tagPatternList may only be used when tagStatus=TAGGED.",
    ),
    (
        "five wildcards",
        policy(rule(1, _selection(tagStatus="tagged", tagPatternList=["test*1*2*3*4*5*6"]))),
        "Tag pattern test*1*2*3*4*5*6 has more than the maximum of 4 wildcards.",
    ),
    (
        "duplicate priority",
        policy(rule(1, COUNT_1), rule(1, _selection(tagStatus="tagged", tagPrefixList=["a"]))),
        "Rule priority 1 is used by more than one rule.",
    ),
    (
        "two untagged rules",
        policy(rule(1, COUNT_1), rule(2, _selection(countNumber=5))),
        "Only one rule can select Untagged images per storage class.",
    ),
    (
        "any before another rule",
        policy(
            rule(1, _selection(tagStatus="any")),
            rule(2, _selection(tagStatus="tagged", tagPrefixList=["a"])),
        ),
        "Rule for tagStatus=ANY must have the lowest priority per storage class",
    ),
    (
        "the same prefix twice",
        policy(
            rule(1, _selection(tagStatus="tagged", tagPrefixList=["a"])),
            rule(2, _selection(tagStatus="tagged", tagPrefixList=["a"], countNumber=3)),
        ),
        "The set of all rules selecting a storage class must contain a unique set of prefixes.",
    ),
    (
        "transition without a target",
        policy(rule(1, COUNT_1, "transition")),
        'object has missing required properties (["targetStorageClass"])',
    ),
    (
        "expire with a target",
        policy(rule(1, COUNT_1, "expire", targetStorageClass="archive")),
        "instance failed to match exactly one schema (matched 0 out of 2)",
    ),
    (
        "sinceImagePulled expiring",
        policy(rule(1, NOT_PULLED_90)),
        "countType sinceImagePulled can only be used with the transition action.",
    ),
    (
        "archive storage class with a push age",
        policy(
            rule(1, {**NOT_PULLED_90, "countType": "sinceImagePushed", "storageClass": "archive"})
        ),
        "storageClass archive must be used with countType sinceImageTransitioned, and "
        "sinceImageTransitioned with storageClass archive.",
    ),
    (
        "less than 90 days in the archive",
        policy(rule(1, {**ARCHIVED_365, "countNumber": 30})),
        "Images must be in archive storage for a minimum of 90 days before deletion.",
    ),
    (
        "unknown selection key",
        policy(rule(1, _selection(tagFilter="x"))),
        'object instance has properties which are not allowed by the schema: (["tagFilter"])',
    ),
    (
        "count number over 32 bits",
        policy(rule(1, _selection(countNumber=2**31))),
        "numeric instance is greater than the required maximum (maximum: 2147483647, found: 2147483648)",
    ),
    (
        "51 rules",
        policy(
            *[
                rule(n, _selection(tagStatus="tagged", tagPrefixList=[f"p{n}"]))
                for n in range(1, 52)
            ]
        ),
        "array is too long: must have at most 50 elements but instance has 51 elements",
    ),
]


@pytest.mark.parametrize(
    ("text", "detail"), [c[1:] for c in INVALID_POLICIES], ids=[c[0] for c in INVALID_POLICIES]
)
def test_invalid_policy_is_refused_with_ecr_wording(ecr_mock, text, detail):
    client = ecr_client()
    client.create_repository(repositoryName=REPO)
    for call in (client.put_lifecycle_policy, client.start_lifecycle_policy_preview):
        with pytest.raises(ClientError) as raised:
            call(repositoryName=REPO, lifecyclePolicyText=text)
        error = raised.value.response["Error"]
        assert error["Code"] == "InvalidParameterException"
        assert error["Message"] == f"{PREFIX}'Lifecycle policy validation failure: {detail}'"
        assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    with pytest.raises(ClientError, match="LifecyclePolicyNotFoundException"):
        client.get_lifecycle_policy(repositoryName=REPO)


def test_policy_round_trip_and_not_found_errors(ecr_target):
    client = ecr_client(endpoint_url=ecr_target)
    client.create_repository(repositoryName=REPO)
    registry = client.describe_registry()["registryId"]
    missing = (
        f"Lifecycle policy does not exist for the repository with name '{REPO}' in the "
        f"registry with id '{registry}'"
    )
    for call in (client.get_lifecycle_policy, client.delete_lifecycle_policy):
        with pytest.raises(ClientError) as raised:
            call(repositoryName=REPO)
        assert raised.value.response["Error"]["Code"] == "LifecyclePolicyNotFoundException"
        assert raised.value.response["Error"]["Message"] == missing
    with pytest.raises(ClientError, match="LifecyclePolicyNotFoundException"):
        client.start_lifecycle_policy_preview(repositoryName=REPO)  # no text, no policy
    with pytest.raises(ClientError, match="LifecyclePolicyPreviewNotFoundException"):
        client.get_lifecycle_policy_preview(repositoryName=REPO)

    text = "  " + policy(rule(1, COUNT_1)) + "\n"  # kept verbatim
    put = client.put_lifecycle_policy(repositoryName=REPO, lifecyclePolicyText=text)
    assert put["lifecyclePolicyText"] == text and put["registryId"] == registry
    got = client.get_lifecycle_policy(repositoryName=REPO)
    assert got["lifecyclePolicyText"] == text
    assert "lastEvaluatedAt" not in got  # never run yet
    assert client.delete_lifecycle_policy(repositoryName=REPO)["lifecyclePolicyText"] == text
    with pytest.raises(ClientError, match="LifecyclePolicyNotFoundException"):
        client.get_lifecycle_policy(repositoryName=REPO)
    with pytest.raises(ClientError, match="RepositoryNotFoundException"):
        client.put_lifecycle_policy(repositoryName="no/such", lifecyclePolicyText=text)


def test_preview_pages_filters_and_names_images():
    clock = ManualClock(NOW)
    with mock_ecr(clock=clock):
        client = ecr_client()
        client.create_repository(repositoryName=REPO)
        pushed = []
        for n in range(250):
            clock.set(NOW - days(300 - n))
            tag = {"imageTag": f"v{n}"} if n % 2 else {}
            answer = client.put_image(
                repositoryName=REPO, imageManifest=docker_manifest(f"p{n}"), **tag
            )
            pushed.append(answer["image"]["imageId"]["imageDigest"])
        clock.set(NOW)
        text = policy(
            rule(1, {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 10})
        )
        client.start_lifecycle_policy_preview(repositoryName=REPO, lifecyclePolicyText=text)
        pages = list(
            client.get_paginator("get_lifecycle_policy_preview").paginate(
                repositoryName=REPO, PaginationConfig={"PageSize": 100}
            )
        )
        results = [r for page in pages for r in page["previewResults"]]
        assert [len(page["previewResults"]) for page in pages] == [100, 100, 40]
        assert [r["imageDigest"] for r in results] == pushed[:240]  # oldest first
        assert pages[0]["summary"] == {"expiringImageTotalCount": 240}
        assert all(r["appliedRulePriority"] == 1 for r in results)
        assert all(r["storageClass"] == "STANDARD" for r in results)
        assert "lifecyclePolicyText" in pages[0] and pages[0]["lifecyclePolicyText"] == text

        tagged = client.get_lifecycle_policy_preview(
            repositoryName=REPO, filter={"tagStatus": "TAGGED"}, maxResults=100
        )
        assert all(r.get("imageTags") for r in tagged["previewResults"])
        named = client.get_lifecycle_policy_preview(
            repositoryName=REPO, imageIds=[{"imageTag": "v1"}, {"imageDigest": pushed[245]}]
        )
        assert [r["imageDigest"] for r in named["previewResults"]] == [pushed[1]]  # 245 stays
        # the repository has no policy of its own: previewing changed nothing
        with pytest.raises(ClientError, match="LifecyclePolicyNotFoundException"):
            client.get_lifecycle_policy(repositoryName=REPO)
        assert len(client.describe_images(repositoryName=REPO)["imageDetails"]) == 100
        with pytest.raises(ClientError, match="Invalid NextToken"):
            client.get_lifecycle_policy_preview(repositoryName=REPO, nextToken="forged")


def test_images_an_index_lists_stay_while_the_index_stays(ecr_mock):
    """User guide: "If an image is referenced by a manifest list, it cannot be expired or
    archived without the manifest list being deleted or archived first"."""
    from registry_client import DOCKER_LIST

    clock = ManualClock(NOW)
    ecr_mock.backend.clock = clock
    client = ecr_client()
    client.create_repository(repositoryName=REPO)
    children = []
    for n in range(2):
        clock.set(NOW - days(10 - n))
        answer = client.put_image(repositoryName=REPO, imageManifest=docker_manifest(f"c{n}"))
        image = answer["image"]
        children.append(image["imageId"]["imageDigest"])
    index = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": DOCKER_LIST,
            "manifests": [
                {
                    "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                    "digest": digest,
                    "size": 100,
                    "platform": {"architecture": "amd64", "os": "linux"},
                }
                for digest in children
            ],
        }
    )
    clock.set(NOW - days(1))
    client.put_image(repositoryName=REPO, imageManifest=index, imageTag="multi")
    clock.set(NOW)
    untagged_7 = rule(
        1,
        {
            "tagStatus": "untagged",
            "countType": "sinceImagePushed",
            "countUnit": "days",
            "countNumber": 7,
        },
    )
    client.put_lifecycle_policy(repositoryName=REPO, lifecyclePolicyText=policy(untagged_7))
    assert ecr_mock.run_lifecycle() == []  # the children are untagged and old, but listed

    everything = rule(1, {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 1})
    client.put_lifecycle_policy(repositoryName=REPO, lifecyclePolicyText=policy(everything))
    taken = ecr_mock.run_lifecycle()  # the newest (the index) stays, so do its children
    assert taken == []


def test_archive_and_restore(ecr_target):
    """UpdateImageStorageClass: an archived image is listed and described but cannot be
    pulled; a restore goes through ACTIVATING; a push of the same image restores it."""
    import requests

    client = ecr_client(endpoint_url=ecr_target)
    client.create_repository(repositoryName=REPO)
    manifest = docker_manifest("archived")
    digest = client.put_image(repositoryName=REPO, imageManifest=manifest, imageTag="v1")["image"][
        "imageId"
    ]["imageDigest"]
    answer = client.update_image_storage_class(
        repositoryName=REPO, imageId={"imageTag": "v1"}, targetStorageClass="ARCHIVE"
    )
    assert answer["imageStatus"] == "ARCHIVED"
    assert answer["imageId"] == {"imageDigest": digest, "imageTag": "v1"}
    detail = client.describe_images(repositoryName=REPO)["imageDetails"][0]
    assert detail["imageStatus"] == "ARCHIVED" and "lastArchivedAt" in detail
    listed = client.list_images(repositoryName=REPO, filter={"imageStatus": "ARCHIVED"})
    assert listed["imageIds"] == [{"imageDigest": digest, "imageTag": "v1"}]
    assert (
        client.list_images(repositoryName=REPO, filter={"imageStatus": "ACTIVE"})["imageIds"] == []
    )
    failures = client.batch_get_image(repositoryName=REPO, imageIds=[{"imageTag": "v1"}])[
        "failures"
    ]
    assert failures[0]["failureCode"] == "ImageInaccessible"
    # archiving again changes nothing
    again = client.update_image_storage_class(
        repositoryName=REPO, imageId={"imageDigest": digest}, targetStorageClass="ARCHIVE"
    )
    assert again["imageStatus"] == "ARCHIVED"

    restoring = client.update_image_storage_class(
        repositoryName=REPO, imageId={"imageDigest": digest}, targetStorageClass="STANDARD"
    )
    assert restoring["imageStatus"] == "ACTIVATING"
    assert client.describe_images(repositoryName=REPO, filter={"imageStatus": "ACTIVATING"})[
        "imageDetails"
    ]
    assert client.batch_get_image(repositoryName=REPO, imageIds=[{"imageTag": "v1"}])["failures"]
    with pytest.raises(ClientError, match="ImageStorageClassUpdateNotSupportedException"):
        client.update_image_storage_class(
            repositoryName=REPO, imageId={"imageDigest": digest}, targetStorageClass="ARCHIVE"
        )
    _advance(ecr_target, seconds=120)
    detail = client.describe_images(repositoryName=REPO)["imageDetails"][0]
    assert detail["imageStatus"] == "ACTIVE" and "lastActivatedAt" in detail
    assert client.batch_get_image(repositoryName=REPO, imageIds=[{"imageTag": "v1"}])["images"]

    # archived again, then pushed again: back at once
    client.update_image_storage_class(
        repositoryName=REPO, imageId={"imageDigest": digest}, targetStorageClass="ARCHIVE"
    )
    client.put_image(repositoryName=REPO, imageManifest=manifest, imageTag="v2")
    assert client.describe_images(repositoryName=REPO)["imageDetails"][0]["imageStatus"] == "ACTIVE"
    with pytest.raises(ClientError, match="ImageNotFoundException"):
        client.update_image_storage_class(
            repositoryName=REPO, imageId={"imageTag": "nope"}, targetStorageClass="ARCHIVE"
        )
    del requests


def _advance(ecr_target: str | None, seconds: float) -> None:
    """Move the emulator's clock: the live server's route, or the mock's ManualClock."""
    import requests

    from ecr_emulator.mock import current_mock

    if ecr_target is None:
        mock = current_mock()
        assert mock is not None
        clock = mock.backend.clock
        if not isinstance(clock, ManualClock):
            clock = mock.backend.clock = ManualClock(mock.backend.now())
        clock.advance(seconds=seconds)
        return
    answer = requests.post(
        f"{ecr_target}/_emulator/clock", json={"advance_seconds": seconds}, timeout=10
    )
    assert answer.status_code == 200


def test_ages_beyond_any_date_and_question_marks_act_on_nothing():
    """A policy that passes the grammar never fails a run: an age of a billion days (more
    than a date can hold) expires nothing, and ``?`` is no wildcard in a tag pattern (ECR
    documents ``*`` only)."""
    with mock_ecr() as mock:
        client = ecr_client()
        client.create_repository(repositoryName=REPO)
        client.create_repository(repositoryName="lifecycle/next")
        for name in (REPO, "lifecycle/next"):
            for tag in ("release-1", "release-2"):
                client.put_image(
                    repositoryName=name, imageManifest=docker_manifest(name + tag), imageTag=tag
                )
        ancient = {
            "tagStatus": "any",
            "countType": "sinceImagePushed",
            "countUnit": "days",
            "countNumber": 1_000_000_000,
        }
        client.put_lifecycle_policy(
            repositoryName=REPO, lifecyclePolicyText=policy(rule(1, ancient))
        )
        question = {**BETA_KEEP_1, "tagPatternList": ["release-?"]}
        client.put_lifecycle_policy(
            repositoryName="lifecycle/next", lifecyclePolicyText=policy(rule(1, question))
        )
        client.start_lifecycle_policy_preview(repositoryName=REPO)
        assert client.get_lifecycle_policy_preview(repositoryName=REPO)["previewResults"] == []
        assert mock.run_lifecycle() == []
        assert len(client.describe_images(repositoryName="lifecycle/next")["imageDetails"]) == 2
