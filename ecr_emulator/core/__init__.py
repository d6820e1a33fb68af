"""The domain core: the only code that resolves repositories, takes the lock and changes state.

Both wire planes are thin adapters over it: ``operations`` (the awsJson API)
and ``registry`` (``/v2/``).  Each feature is one module, a set of plain
functions that take the ``Caller`` first:

- ``access``          — the one access check (caller, ECR action, repository)
- ``repositories``    — create, describe, delete, settings; ``DescribeRegistry``
- ``images``          — store a manifest, move or remove tags, read, list, delete
- ``uploads``         — the one upload table: start, append, finish, cancel
- ``blobs``           — what a repository serves, mounts, download URLs, freeing
- ``policies``        — repository policies (``iam`` parses and decides them)
- ``resource_tags``   — tags on repositories, addressed by ARN
- ``authorization``   — registry passwords and who a registry request is
- ``public``          — ECR Public: each account's public registry, alias, catalog data

Every change is made holding ``Backend.lock`` for as short as it needs (never
while a client's body is read), and every change that others may want to know
of inside ``Backend.transaction()``, whose events are published to subscribers
after the lock is let go.  Bookkeeping of uploads in progress (start, cancel,
purge) takes the lock without publishing.
"""

from .caller import Caller

__all__ = ["Caller"]
