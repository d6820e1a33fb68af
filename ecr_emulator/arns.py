"""AWS partitions, DNS suffixes and ECR repository ARNs: pure functions, imported by everyone.

A leaf module (it imports nothing of ours), so the state model, the access
check and the wire layers can all name ARNs without importing each other.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_REPOSITORY_ARN = re.compile(
    r"arn:(?P<partition>aws|aws-cn|aws-us-gov):ecr:(?P<region>[a-z0-9-]+):"
    r"(?P<account>\d{12}):repository/(?P<name>.+)"
)


def partition_for(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def dns_suffix_for(region: str) -> str:
    return "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"


def repository_arn(account: str, region: str, name: str) -> str:
    return f"arn:{partition_for(region)}:ecr:{region}:{account}:repository/{name}"


def account_root_arn(account: str, region: str) -> str:
    """The principal ARN of an account as IAM spells it (``arn:aws:iam::<account>:root``)."""
    return f"arn:{partition_for(region)}:iam::{account}:root"


@dataclass(frozen=True, slots=True)
class RepositoryArn:
    account: str
    region: str
    name: str


def parse_repository_arn(arn: str) -> RepositoryArn | None:
    """The parts of an ECR repository ARN, or None when ``arn`` is not one."""
    match = _REPOSITORY_ARN.fullmatch(arn)
    if match is None or match["partition"] != partition_for(match["region"]):
        return None
    return RepositoryArn(match["account"], match["region"], match["name"])
