"""符号 management (F5): opaque per agency, stable per person, never a My Number."""

from __future__ import annotations

import asyncio
from collections import Counter

from adapters.intermediate.linkage import CODE_LENGTH, MemoryLinkage, acquire, new_linkage_code
from contracts.codes import InternalPersonNumber, LinkageCode, looks_like_my_number

PERSON = InternalPersonNumber("1000234567")
CHIKUSEI, HEALTH_MINISTRY = "082279", "mhlw"


async def test_a_code_is_stable_for_an_agency_and_different_across_agencies() -> None:
    registry = MemoryLinkage()
    first = await acquire(registry, CHIKUSEI, PERSON)
    assert await acquire(registry, CHIKUSEI, PERSON) == first
    other = await acquire(registry, HEALTH_MINISTRY, PERSON)
    assert other != first
    assert await registry.person_for(CHIKUSEI, first) == PERSON
    assert await registry.person_for(HEALTH_MINISTRY, first) is None  # not joinable
    assert await registry.code_for(CHIKUSEI, InternalPersonNumber("42")) is None


async def test_concurrent_acquisitions_agree_on_one_code() -> None:
    registry = MemoryLinkage()
    codes = await asyncio.gather(*(acquire(registry, CHIKUSEI, PERSON) for _ in range(10)))
    assert len(set(codes)) == 1


def test_codes_are_random_opaque_and_never_a_my_number() -> None:
    codes = [new_linkage_code() for _ in range(2000)]
    assert len(set(codes)) == len(codes)
    assert all(len(code) == CODE_LENGTH for code in codes)
    assert not any(looks_like_my_number(code) for code in codes)
    assert all(LinkageCode(code) == code for code in codes)
    # No character position is fixed: the code owes nothing to the person.
    for position in range(CODE_LENGTH):
        assert len(Counter(code[position] for code in codes)) > 40
