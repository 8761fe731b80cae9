"""符号 management (F5): each agency holds its own opaque linkage code (情報提供用個人識別
符号) for a person, mapped to the municipality's 団体内統合宛名番号.

A code is 22 random base-62 characters (about 131 bits) from the operating system's CSPRNG:
never derived from the My Number or from the person number (R40), so two agencies' codes
for one person cannot be joined, and at 16+ characters no code can pass for a My Number.
The mapping lives behind a port (`adapters.ports.LinkageRegistry`): the in-memory registry is
here, the PostgreSQL one in `hub.store.intermediate` (schema `intermediate`).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string
from dataclasses import dataclass, field

from adapters.ports import LinkageRegistry
from contracts.codes import InternalPersonNumber, LinkageCode

__all__ = ["LinkageRegistry", "MemoryLinkage", "acquire", "new_linkage_code"]

_ALPHABET = string.ascii_letters + string.digits
CODE_LENGTH = 22


def new_linkage_code(secret: bytes | None = None, seed: bytes = b"") -> LinkageCode:
    """A fresh 符号: random, owing nothing to any number of the person. With a `secret`,
    it is drawn from HMAC-SHA256(secret, seed) instead, so that handling the same message
    again draws the same code (the seed is a message id, never a number of the person)."""
    if secret is None:
        return LinkageCode("".join(secrets.choice(_ALPHABET) for _ in range(CODE_LENGTH)))
    stream = hmac.new(secret, seed, hashlib.sha512).digest()
    return LinkageCode("".join(_ALPHABET[b % len(_ALPHABET)] for b in stream[:CODE_LENGTH]))


async def acquire(
    registry: LinkageRegistry,
    agency: str,
    person: InternalPersonNumber,
    *,
    secret: bytes | None = None,
    seed: bytes = b"",
) -> LinkageCode:
    """The agency's code for the person, issuing one the first time (F5)."""
    existing = await registry.code_for(agency, person)
    return existing or await registry.put(agency, person, new_linkage_code(secret, seed))


@dataclass
class MemoryLinkage:
    """The in-memory registry (tests, simulators): one event loop, so no locks."""

    by_person: dict[tuple[str, str], LinkageCode] = field(default_factory=dict)
    by_code: dict[tuple[str, str], InternalPersonNumber] = field(default_factory=dict)

    async def code_for(self, agency: str, person: InternalPersonNumber) -> LinkageCode | None:
        """The agency's code for the person, if one was issued."""
        return self.by_person.get((agency, str(person)))

    async def person_for(self, agency: str, code: LinkageCode) -> InternalPersonNumber | None:
        """The person an agency's code stands for, if any."""
        return self.by_code.get((agency, str(code)))

    async def put(
        self, agency: str, person: InternalPersonNumber, code: LinkageCode
    ) -> LinkageCode:
        """Record a new code unless the person already has one at this agency."""
        kept = self.by_person.setdefault((agency, str(person)), code)
        self.by_code.setdefault((agency, str(kept)), person)
        return kept
