"""Lifecycle policies: ECR's rule grammar, AWS's evaluation rules, previews and runs.

A policy is checked when it is put (or previewed) and kept as its text on the
repository; ``evaluate`` decides, without changing anything, what a policy does
to a repository's images; ``run`` applies those decisions (expire: the image
goes, as a BatchDeleteImage by digest would; transition: it is archived), and
``start_preview`` keeps them for GetLifecyclePolicyPreview.  The server runs
``run`` on a schedule and on ``POST /_emulator/lifecycle/run``; the mock has
``mock.run_lifecycle()``.

Evaluation follows the user guide's "How lifecycle policies work"
(https://docs.aws.amazon.com/AmazonECR/latest/userguide/LifecyclePolicies.html):
every rule looks at every image; rules are then applied in ``rulePriority``
order; an image is acted on by at most one rule, and a rule never acts on an
image that matched the tag selection of a rule with a lower ``rulePriority``
(but still counts it, for ``imageCountMoreThan``); counts keep the newest
images by push time; an image an image index lists is left while the index
stays.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from ..errors import ServiceError, invalid_parameter
from ..events import LifecycleAction, LifecyclePolicyChanged
from ..state import Backend, Image, Repository
from ..wildcard import matches
from . import access, images, storage_classes
from .caller import Caller

log = logging.getLogger(__name__)

TAG_STATUSES = ("tagged", "untagged", "any")
COUNT_TYPES = (
    "imageCountMoreThan",
    "sinceImagePushed",
    "sinceImagePulled",
    "sinceImageTransitioned",
)
ACTIONS = ("expire", "transition")
STORAGE_CLASSES = ("standard", "archive")
MAX_WILDCARDS = 4  # "You can use up to four wildcards (*) per string" (lifecycle_policy_parameters)
MAX_RULES = 50  # "Rules per lifecycle policy: 50" (service quotas)
MAX_NUMBER = 2**31 - 1  # a 32-bit integer, as AWS's schema types rulePriority and countNumber
MAX_DAYS = 999_999_999  # the most days a timedelta holds: an age of more never comes
MIN_ARCHIVE_DAYS = 90  # "in archive storage for a minimum of 90 days before deletion"
PREVIEW_PAGE = 100

_RULE_KEYS = {"rulePriority", "description", "selection", "action"}
_SELECTION_KEYS = {
    "tagStatus",
    "tagPatternList",
    "tagPrefixList",
    "storageClass",
    "countType",
    "countUnit",
    "countNumber",
}
_ACTION_KEYS = {"type", "targetStorageClass"}


def _invalid(reason: str) -> ServiceError:
    """ECR's answer to a policy it cannot accept: one sentence after a fixed prefix."""
    return invalid_parameter(
        "LifecyclePolicyText", f"Lifecycle policy validation failure: {reason}"
    )


@dataclass(frozen=True, slots=True)
class Rule:
    priority: int
    description: str | None
    tag_status: str
    tag_prefixes: tuple[str, ...]
    tag_patterns: tuple[str, ...]
    storage_class: str  # "standard" or "archive": which images the rule looks at
    count_type: str
    count_number: int
    action: str  # "expire" or "transition"
    target_storage_class: str | None

    def tags_match(self, image: Image) -> bool:
        """Whether ``image`` meets the rule's tag selection."""
        if self.tag_status == "any":
            return True
        if self.tag_status == "untagged":
            return not image.tags
        # every prefix or pattern must match one of the tags (user guide: "only the images
        # with all specified tags are selected")
        if self.tag_prefixes:
            return all(any(t.startswith(p) for t in image.tags) for p in self.tag_prefixes)
        return bool(image.tags) and all(
            any(_tag_matches(pattern, tag) for tag in image.tags) for pattern in self.tag_patterns
        )

    def selects(self, image: Image, now: _dt.datetime) -> bool:
        """Tag selection and storage class: the images the rule looks at (and, for the rules
        after it, claims).  An image being restored (ACTIVATING) is in neither class."""
        if _STORAGE_CLASS_OF.get(image.status_at(now)) != self.storage_class:
            return False
        return self.tags_match(image)

    def chosen(self, selected: list[Image], now: _dt.datetime) -> Iterator[Image]:
        """Of the images the rule looks at, those its count criterion picks, oldest first."""
        oldest_first = sorted(selected, key=lambda image: (_pushed(image), image.digest))
        if self.count_type == "imageCountMoreThan":
            yield from oldest_first[: max(0, len(oldest_first) - self.count_number)]
            return
        limit = _dt.timedelta(days=min(self.count_number, MAX_DAYS))
        for image in oldest_first:
            if now - _since(image, self.count_type) > limit:
                yield image


def _tag_matches(pattern: str, tag: str) -> bool:
    """A lifecycle tag pattern: ``*`` is the only wildcard ECR documents; a ``?`` is itself,
    which no tag contains."""
    return "?" not in pattern and matches(pattern, tag)


_STORAGE_CLASS_OF = {"ACTIVE": "standard", "ARCHIVED": "archive"}


def _pushed(image: Image) -> _dt.datetime:
    """When the image arrived, for counts and ages: "If an image was archived and then
    restored at any point in the past, the image's last_activated_at is used instead of
    pushed_at_time" (user guide, lifecycle policy evaluation rules)."""
    activated = image.last_activated_at
    return activated if activated is not None and activated > image.pushed_at else image.pushed_at


def _since(image: Image, count_type: str) -> _dt.datetime:
    """The moment a ``since...`` count starts from.  Never pulled: the push (or the restore
    when there was one since), as the user guide's evaluation rules say."""
    if count_type == "sinceImagePulled":
        pulled = image.last_pulled_at
        return max(pulled or image.pushed_at, _pushed(image))
    if count_type == "sinceImageTransitioned":
        return image.last_archived_at or image.pushed_at
    return _pushed(image)


@dataclass(frozen=True, slots=True)
class Decision:
    image: Image
    rule: Rule

    @property
    def action_type(self) -> str:
        return self.rule.action.upper()


# --- the grammar ----------------------------------------------------------------------------
#
# ECR checks a policy against a JSON schema first and answers with the schema validator's
# sentence (quoted from real answers in terraform-aws-ecr #158/#132, simple-container-com
# #34, and moto's copy of them): "object has missing required properties (["rules"])",
# "instance value (keep) not found in enum :(possible values: [...])", "instance failed to
# match exactly one schema (matched 0 out of 2)" for a selection that is neither the
# count-based nor the time-based shape.  Then it checks the rules together, in sentences
# of its own ("Only one rule can select Untagged images per storage class.").


def parse_rules(text: str) -> tuple[Rule, ...]:
    """The rules of a lifecycle policy, in priority order, or ECR's InvalidParameterException."""
    try:
        document = json.loads(text)
    except ValueError:
        raise _invalid("Could not map policyString into LifecyclePolicy.") from None
    _require_object(document, {"rules"}, {"rules"})
    raw_rules = document["rules"]
    _require_type(raw_rules, "array")
    if not raw_rules:
        raise _invalid(
            "array is too short: must have at least 1 elements but instance has 0 elements"
        )
    if len(raw_rules) > MAX_RULES:
        raise _invalid(
            f"array is too long: must have at most {MAX_RULES} elements but instance has "
            f"{len(raw_rules)} elements"
        )
    rules = sorted((_parse_rule(raw) for raw in raw_rules), key=lambda rule: rule.priority)
    _check_together(rules)
    return tuple(rules)


_JSON_TYPES = {"object": dict, "array": list, "string": str, "integer": int}


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, float):
        return "number"
    for name, kind in _JSON_TYPES.items():
        if isinstance(value, kind):
            return name
    return "unknown"


def _require_type(value: Any, wanted: str) -> None:
    if _type_name(value) != wanted:
        raise _invalid(
            f"instance type ({_type_name(value)}) does not match any allowed primitive type "
            f'(allowed: ["{wanted}"])'
        )


def _require_object(value: Any, required: set[str], allowed: set[str]) -> None:
    _require_type(value, "object")
    extra = sorted(set(value) - allowed)
    if extra:
        raise _invalid(
            "object instance has properties which are not allowed by the schema: "
            f"({json.dumps(extra)})"
        )
    missing = sorted(required - set(value))
    if missing:
        raise _invalid(f"object has missing required properties ({json.dumps(missing)})")


def _enum(value: Any, allowed: tuple[str, ...]) -> str:
    _require_type(value, "string")
    if value not in allowed:
        shown = ", ".join(f'"{choice}"' for choice in sorted(allowed))
        raise _invalid(f"instance value ({value}) not found in enum :(possible values: [{shown}])")
    return value


def _positive(value: Any) -> int:
    _require_type(value, "integer")
    if value < 1:
        raise _invalid(
            f"numeric instance is lower than the required minimum (minimum: 1, found: {value})"
        )
    if value > MAX_NUMBER:
        raise _invalid(
            "numeric instance is greater than the required maximum "
            f"(maximum: {MAX_NUMBER}, found: {value})"
        )
    return value


def _parse_rule(raw: Any) -> Rule:
    _require_object(raw, {"rulePriority", "selection", "action"}, _RULE_KEYS)
    priority = _positive(raw["rulePriority"])
    description = raw.get("description")
    if description is not None:
        _require_type(description, "string")
    selection, action = raw["selection"], raw["action"]
    _require_object(selection, {"tagStatus", "countType", "countNumber"}, _SELECTION_KEYS)
    _require_object(action, {"type"}, _ACTION_KEYS)

    tag_status = _enum(selection["tagStatus"], TAG_STATUSES)
    prefixes = _tag_list(selection, "tagPrefixList")
    patterns = _tag_list(selection, "tagPatternList")
    if tag_status == "tagged":
        if prefixes is None and patterns is None:
            raise _invalid("Must specify tagPrefixList or tagPatternList when tagStatus=TAGGED.")
        if prefixes is not None and patterns is not None:
            raise _invalid(
                "A rule may specify either tagPrefixList or tagPatternList, but not both."
            )
    elif prefixes is not None or patterns is not None:
        raise _invalid("tagPrefixList and tagPatternList may only be used when tagStatus=TAGGED.")
    for pattern in patterns or ():
        if pattern.count("*") > MAX_WILDCARDS:
            raise _invalid(
                f"Tag pattern {pattern} has more than the maximum of {MAX_WILDCARDS} wildcards."
            )

    # the selection is one of two shapes: a count (no countUnit) or an age in days
    count_type = selection["countType"]
    count_unit = selection.get("countUnit", _ABSENT)
    if count_type == "imageCountMoreThan":
        shape_ok = count_unit is _ABSENT
    else:
        shape_ok = count_type in COUNT_TYPES and count_unit is not _ABSENT
    if not shape_ok:
        raise _invalid("instance failed to match exactly one schema (matched 0 out of 2)")
    if count_unit is not _ABSENT:
        _enum(count_unit, ("days",))
    count_number = _positive(selection["countNumber"])
    storage_class = _enum(selection.get("storageClass", "standard"), STORAGE_CLASSES)
    action_type = _enum(action["type"], ACTIONS)
    target = action.get("targetStorageClass", _ABSENT)

    # what the user guide's properties and examples pages require of the combinations
    if (storage_class == "archive") != (count_type == "sinceImageTransitioned"):
        raise _invalid(
            "storageClass archive must be used with countType sinceImageTransitioned, "
            "and sinceImageTransitioned with storageClass archive."
        )
    if action_type == "transition":
        if target is _ABSENT:
            raise _invalid('object has missing required properties (["targetStorageClass"])')
        _enum(target, ("archive",))
        if count_type == "sinceImageTransitioned":
            raise _invalid("Archived images cannot be transitioned.")
    elif target is not _ABSENT:
        raise _invalid("instance failed to match exactly one schema (matched 0 out of 2)")
    if count_type == "sinceImagePulled" and action_type != "transition":
        raise _invalid("countType sinceImagePulled can only be used with the transition action.")
    if count_type == "sinceImageTransitioned" and count_number < MIN_ARCHIVE_DAYS:
        raise _invalid(
            f"Images must be in archive storage for a minimum of {MIN_ARCHIVE_DAYS} days "
            "before deletion."
        )

    return Rule(
        priority=priority,
        description=description,
        tag_status=tag_status,
        tag_prefixes=tuple(prefixes or ()),
        tag_patterns=tuple(patterns or ()),
        storage_class=storage_class,
        count_type=count_type,
        count_number=count_number,
        action=action_type,
        target_storage_class=None if target is _ABSENT else target,
    )


_ABSENT: Any = object()


def _tag_list(selection: dict[str, Any], name: str) -> list[str] | None:
    if name not in selection:
        return None
    value = selection[name]
    _require_type(value, "array")
    if not value:
        raise _invalid(
            "array is too short: must have at least 1 elements but instance has 0 elements"
        )
    for item in value:
        _require_type(item, "string")
    return value


def _check_together(rules: list[Rule]) -> None:
    """What the rules of one policy must agree on (the user guide's evaluation rules)."""
    priorities = [rule.priority for rule in rules]
    for priority in priorities:
        if priorities.count(priority) > 1:
            raise _invalid(f"Rule priority {priority} is used by more than one rule.")
    for storage_class in STORAGE_CLASSES:
        in_class = [rule for rule in rules if rule.storage_class == storage_class]
        if sum(rule.tag_status == "untagged" for rule in in_class) > 1:
            raise _invalid("Only one rule can select Untagged images per storage class.")
        if any(rule.tag_status == "any" for rule in in_class[:-1]):
            raise _invalid("Rule for tagStatus=ANY must have the lowest priority per storage class")
        prefixes = [p for rule in in_class for p in rule.tag_prefixes]
        if len(prefixes) != len(set(prefixes)):
            raise _invalid(
                "The set of all rules selecting a storage class must contain a unique set of "
                "prefixes."
            )


# --- evaluation -----------------------------------------------------------------------------


def evaluate(rules: Iterable[Rule], repository: Repository, now: _dt.datetime) -> list[Decision]:
    """What ``rules`` do to ``repository``'s images at ``now`` (lock held; changes nothing),
    in the order a run applies them."""
    all_images = list(repository.images.values())
    decided: dict[str, Decision] = {}
    claimed: set[str] = set()  # selected by a rule with a lower priority
    for rule in rules:
        selected = [image for image in all_images if rule.selects(image, now)]
        for image in rule.chosen(selected, now):
            if image.digest not in decided and image.digest not in claimed:
                decided[image.digest] = Decision(image, rule)
        claimed.update(image.digest for image in selected)
    return _without_listed_children(repository, decided)


def _without_listed_children(
    repository: Repository, decided: dict[str, Decision]
) -> list[Decision]:
    """Leave the images an image index lists while that index stays (user guide: such an
    image "cannot be expired without the manifest list being deleted first"); indexes
    first, so a run deletes an index before what it lists."""
    expiring = {d for d, decision in decided.items() if decision.rule.action == "expire"}
    changed = True
    while changed:
        changed = False
        for digest in list(decided):
            parents = repository.index_parents.get(digest)
            if parents and not parents <= expiring:
                del decided[digest]
                expiring.discard(digest)
                changed = True
    return sorted(
        decided.values(),
        key=lambda d: (
            digest_depth(repository, d.image.digest),
            d.rule.priority,
            d.image.pushed_at,
        ),
    )


def digest_depth(repository: Repository, digest: str) -> int:
    """0 for an image no index lists, 1 for one an index lists, ...: the order to delete in."""
    depth, level = 0, {digest}
    while True:
        level = set().union(*(repository.index_parents.get(d, set()) for d in level))
        if not level or depth > 8:
            return depth
        depth += 1


# --- the operations -------------------------------------------------------------------------


def _policy_not_found(repository: Repository) -> ServiceError:
    return ServiceError(
        "LifecyclePolicyNotFoundException",
        f"Lifecycle policy does not exist for the repository with name '{repository.name}' "
        f"in the registry with id '{repository.registry.account_id}'",
    )


def put_policy(caller: Caller, registry_id: str | None, name: str, text: str) -> Repository:
    parse_rules(text)
    with caller.backend.transaction() as events:
        repository = access.repository(caller, registry_id, name, "ecr:PutLifecyclePolicy")
        repository.lifecycle_policy_text = text
        events.append(LifecyclePolicyChanged(*repository.scope, text))
        return repository


def get_policy(caller: Caller, registry_id: str | None, name: str) -> Repository:
    with caller.backend.lock:
        repository = access.repository(caller, registry_id, name, "ecr:GetLifecyclePolicy")
        if repository.lifecycle_policy_text is None:
            raise _policy_not_found(repository)
        return repository


def delete_policy(caller: Caller, registry_id: str | None, name: str) -> tuple[Repository, str]:
    """The repository and the policy text it had."""
    with caller.backend.transaction() as events:
        repository = access.repository(caller, registry_id, name, "ecr:DeleteLifecyclePolicy")
        text = repository.lifecycle_policy_text
        if text is None:
            raise _policy_not_found(repository)
        repository.lifecycle_policy_text = None
        events.append(LifecyclePolicyChanged(*repository.scope, None))
        return repository, text


def start_preview(
    caller: Caller, registry_id: str | None, name: str, text: str | None
) -> Repository:
    """Evaluate ``text`` (or the repository's own policy) now and keep the outcome for
    GetLifecyclePolicyPreview.  The evaluation is done before this answers, so the
    preview is COMPLETE at once (on AWS it takes a while: the waiter handles both)."""
    rules = parse_rules(text) if text is not None else None
    backend = caller.backend
    with backend.transaction():
        repository = access.repository(caller, registry_id, name, "ecr:StartLifecyclePolicyPreview")
        if text is None:
            if repository.lifecycle_policy_text is None:
                raise _policy_not_found(repository)
            text = repository.lifecycle_policy_text
            rules = parse_rules(text)
        assert rules is not None
        decisions = evaluate(rules, repository, backend.now())
        repository.lifecycle_preview = {
            "policy_text": text,
            "status": "COMPLETE",
            "results": [_preview_entry(decision, backend.now()) for decision in decisions],
        }
        return repository


def _preview_entry(decision: Decision, now: _dt.datetime) -> dict[str, Any]:
    image, rule = decision.image, decision.rule
    return {
        "imageDigest": image.digest,
        "imageTags": list(image.tags),
        "imagePushedAt": image.pushed_at,
        "action": decision.action_type,
        "targetStorageClass": rule.target_storage_class.upper()
        if rule.target_storage_class
        else None,
        "appliedRulePriority": rule.priority,
        "storageClass": "ARCHIVE" if image.status_at(now) == "ARCHIVED" else "STANDARD",
    }


def get_preview(
    caller: Caller, registry_id: str | None, name: str
) -> tuple[Repository, dict[str, Any]]:
    with caller.backend.lock:
        repository = access.repository(caller, registry_id, name, "ecr:GetLifecyclePolicyPreview")
        preview = repository.lifecycle_preview
        if preview is None:
            raise ServiceError(
                "LifecyclePolicyPreviewNotFoundException",
                "There is no dry run for this repository with name "
                f"'{repository.name}' in the registry with id '{repository.registry.account_id}'",
            )
        return repository, preview


def preview_results(
    preview: dict[str, Any],
    image_ids: list[dict[str, str]] | None,
    preview_filter: dict[str, str] | None,
) -> list[dict[str, Any]]:
    """The kept preview's results for the images ``image_ids`` name (all when None) that
    pass the ``filter``'s tagStatus."""
    results = preview["results"]
    if image_ids:
        digests = {i["imageDigest"] for i in image_ids if i.get("imageDigest")}
        tags = {i["imageTag"] for i in image_ids if i.get("imageTag")}
        results = [
            r for r in results if r["imageDigest"] in digests or tags.intersection(r["imageTags"])
        ]
    tag_status = (preview_filter or {}).get("tagStatus", "ANY")
    if tag_status != "ANY":
        results = [r for r in results if bool(r["imageTags"]) == (tag_status == "TAGGED")]
    return results


def preview_summary(preview: dict[str, Any]) -> dict[str, Any]:
    """The counts of the whole preview (GetLifecyclePolicyPreview's ``summary``)."""
    results = preview["results"]
    transitioning = sum(r["action"] == "TRANSITION" for r in results)
    summary: dict[str, Any] = {
        "expiringImageTotalCount": sum(r["action"] == "EXPIRE" for r in results)
    }
    if transitioning:  # "only present if at least one image will be transitioned"
        summary["transitioningImageTotalCounts"] = [
            {"targetStorageClass": "ARCHIVE", "imageTotalCount": transitioning}
        ]
    return summary


def run(backend: Backend) -> list[dict[str, Any]]:
    """Apply every repository's lifecycle policy now; the actions taken, in order."""
    with backend.lock:
        targets = [
            (repository.registry.account_id, repository.registry.region, repository.name)
            for registry in list(backend.registries.values())
            for repository in list(registry.repositories.values())
            if repository.lifecycle_policy_text is not None
        ]
    taken: list[dict[str, Any]] = []
    for account, region, name in targets:
        try:
            taken.extend(run_repository(backend, account, region, name))
        except Exception:  # one repository's trouble never stops the others
            log.exception("lifecycle run of %s/%s/%s failed", account, region, name)
    return taken


def run_repository(backend: Backend, account: str, region: str, name: str) -> list[dict[str, Any]]:
    """Apply one repository's policy (each repository in a transaction of its own)."""
    with backend.transaction() as events:
        registry = backend.registries.get((account, region))
        repository = registry.repositories.get(name) if registry else None
        if repository is None or repository.lifecycle_policy_text is None:
            return []
        now = backend.now()
        decisions = evaluate(parse_rules(repository.lifecycle_policy_text), repository, now)
        taken = []
        for decision in decisions:
            image = decision.image
            entry = {
                "registryId": account,
                "region": region,
                "repositoryName": name,
                "imageDigest": image.digest,
                "imageTags": list(image.tags),
                "imagePushedAt": image.pushed_at.isoformat(),
                "action": decision.action_type,
                "appliedRulePriority": decision.rule.priority,
            }
            if decision.rule.action == "expire":
                images.delete_image(backend, repository, image, events)
            else:
                storage_classes.archive(backend, repository, image, events)
                entry["targetStorageClass"] = "ARCHIVE"
            events.append(
                LifecycleAction(
                    account,
                    region,
                    name,
                    image.digest,
                    tuple(entry["imageTags"]),
                    decision.action_type,
                    decision.rule.priority,
                )
            )
            taken.append(entry)
        repository.lifecycle_evaluated_at = now
        return taken


def run_every(backend: Backend, seconds: float, stop: threading.Event) -> None:
    """Run every policy each ``seconds`` until ``stop`` is set (the server's schedule,
    ``serve --lifecycle-interval``); a run that fails is logged and the next one comes."""
    while not stop.wait(seconds):
        try:
            taken = run(backend)
        except Exception:
            log.exception("lifecycle run failed")
            continue
        if taken:
            log.info("lifecycle: %d images expired or archived", len(taken))
