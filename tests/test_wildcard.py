"""The one wildcard matcher (``*`` and ``?``), checked against a regex on every small case,
and timed on the patterns that make a backtracking regex take forever."""

from __future__ import annotations

import itertools
import re
import time

import pytest

from ecr_emulator.wildcard import matches


def as_regex(pattern: str) -> re.Pattern[str]:
    parts = (".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile("".join(parts), re.DOTALL)


PATTERN_ALPHABET = "ab*?"
TEXT_ALPHABET = "ab"


def every(alphabet: str, longest: int):
    for length in range(longest + 1):
        for letters in itertools.product(alphabet, repeat=length):
            yield "".join(letters)


def test_agrees_with_a_regex_on_every_small_pattern_and_text():
    texts = list(every(TEXT_ALPHABET, 5))
    for pattern in every(PATTERN_ALPHABET, 4):
        regex = as_regex(pattern)
        for text in texts:
            assert matches(pattern, text) == (regex.fullmatch(text) is not None), (pattern, text)


@pytest.mark.parametrize(
    ("pattern", "text", "expected"),
    [
        ("release-*", "release-1.2", True),
        ("*-rc", "v1-rc", True),
        ("*", "", True),
        ("", "", True),
        ("", "a", False),
        ("v*.*.*", "v1.2.3", True),
        ("v*.*.*", "v1.2", False),
        ("ecr:Batch?etImage", "ecr:BatchGetImage", True),
        ("ECR:*", "ecr:ListImages", False),
    ],
)
def test_examples(pattern, text, expected):
    assert matches(pattern, text) is expected


def test_case_can_be_ignored_as_iam_does_for_actions():
    assert matches("ECR:batch*", "ecr:BatchGetImage", ignore_case=True)


@pytest.mark.parametrize(
    ("pattern", "text"),
    [
        ("a*" * 60 + "X", "a" * 300),
        ("*a" * 60 + "*X", "a" * 300),
        ("?*" * 60 + "X", "a" * 300),
        ("*" * 128, "a" * 300),
        ("a*a*a*a*a*a*a*a*a*a*a*a*X", "a" * 300),
    ],
)
def test_patterns_that_freeze_a_backtracking_regex_answer_at_once(pattern, text):
    started = time.perf_counter()
    for _ in range(100):
        matches(pattern, text)
    assert time.perf_counter() - started < 1.0
