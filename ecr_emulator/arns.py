"""AWS partitions, DNS suffixes and ECR repository ARNs: pure functions, imported by everyone.

A leaf module (it imports nothing of ours), so the state model, the access
check and the wire layers can all name ARNs without importing each other.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

_REPOSITORY_ARN = re.compile(
    r"arn:(?P<partition>aws|aws-cn|aws-us-gov):ecr:(?P<region>[a-z0-9-]+):"
    r"(?P<account>\d{12}):repository/(?P<name>.+)"
)
_PUBLIC_REPOSITORY_ARN = re.compile(
    r"arn:aws:ecr-public::(?P<account>\d{12}):repository/(?P<name>.+)"
)

# The key of an account's ECR Public registry among its registries.  ECR Public has no
# regions (its ARNs have none: ``arn:aws:ecr-public::<account>:repository/<name>``), so
# its registry sits beside the private ones under a name no AWS region can have.
PUBLIC_REGION = "public"


def partition_for(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def dns_suffix_for(region: str) -> str:
    return "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"


def repository_arn(account: str, region: str, name: str) -> str:
    if region == PUBLIC_REGION:
        return f"arn:aws:ecr-public::{account}:repository/{name}"
    return f"arn:{partition_for(region)}:ecr:{region}:{account}:repository/{name}"


def default_public_alias(account: str) -> str:
    """The alias an account's ECR Public registry has until it is changed: AWS assigns a
    random one (``b1x4c2h7``); this one is derived from the account, so it is stable."""
    return "e" + hashlib.sha256(f"ecr-public:{account}".encode()).hexdigest()[:7]


def public_registry_arn(account: str) -> str:
    return f"arn:aws:ecr-public::{account}:registry/{account}"


def account_root_arn(account: str, region: str) -> str:
    """The principal ARN of an account as IAM spells it (``arn:aws:iam::<account>:root``)."""
    return f"arn:{partition_for(region)}:iam::{account}:root"


@dataclass(frozen=True, slots=True)
class RepositoryArn:
    account: str
    region: str
    name: str


def parse_repository_arn(arn: str) -> RepositoryArn | None:
    """The parts of an ECR (or ECR Public) repository ARN, or None when ``arn`` is not one."""
    public = _PUBLIC_REPOSITORY_ARN.fullmatch(arn)
    if public is not None:
        return RepositoryArn(public["account"], PUBLIC_REGION, public["name"])
    match = _REPOSITORY_ARN.fullmatch(arn)
    if match is None or match["partition"] != partition_for(match["region"]):
        return None
    return RepositoryArn(match["account"], match["region"], match["name"])
