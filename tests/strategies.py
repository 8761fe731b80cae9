"""Hypothesis strategies for valid codes, payloads and unsigned envelopes."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hypothesis import strategies as st

from contracts.codes import SystemId, local_gov_check_digit, my_number_check_digit
from contracts.envelope import Envelope, Party, Recipient
from contracts.keys import generate_key
from contracts.payloads import (
    Payload,
    RejectionNotice,
    ResidentStatusFlag,
    TransferInInquiry,
)
from tests.sealed import sealed_envelope

NOW = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)
# What the generated envelopes seal their person-identifying payloads to.
SEALING_KEY = generate_key(SystemId.VRS, "082279", key_id="vrs-sealing-t")

local_gov_codes = st.text(alphabet="0123456789", min_size=5, max_size=5).map(
    lambda base: base + str(local_gov_check_digit(base))
)
my_numbers = st.text(alphabet="0123456789", min_size=11, max_size=11).map(
    lambda base: base + str(my_number_check_digit(base))
)
# Any Unicode text that has a UTF-8 form: Japanese, emoji, control characters, quotes.
free_text = st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=200)
days = st.dates(min_value=date(2000, 1, 1), max_value=date(2026, 11, 1))
instants = st.datetimes(
    min_value=datetime(2026, 11, 26, 2, 50),  # noqa: DTZ001 - made aware by timezones=
    max_value=datetime(2026, 11, 26, 3, 0, 30),  # noqa: DTZ001
    timezones=st.just(UTC),
)
instances = st.from_regex(r"\A[a-z0-9][a-z0-9-]{0,20}\Z")
data_items = st.lists(
    st.from_regex(r"\A[a-z][a-z0-9_]{0,8}(\.[a-z][a-z0-9_]{0,8}){0,2}\Z"), max_size=4, unique=True
)
# W3C: an all-zero trace id or parent id is invalid.
traceparents = st.from_regex(r"\A00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]\Z").filter(
    lambda t: t[3:35] != "0" * 32 and t[36:52] != "0" * 16
)
procedures = st.sampled_from(["B2-115-2", "B2-16-2", "S19-16", "B1-10", "B1-93-2"])


@st.composite
def payloads(draw: st.DrawFn) -> Payload:
    """One of a few payload kinds, with arbitrary valid field values."""
    choice = draw(st.integers(0, 2))
    if choice == 0:
        return RejectionNotice(
            rejected_message_id=draw(st.uuids()),
            reason_code=draw(st.from_regex(r"\A[a-z][a-z0-9_]{1,20}\Z")),
            reason=draw(free_text),
            rejected_at=draw(instants),
        )
    if choice == 1:
        return ResidentStatusFlag(
            basic_code=draw(st.from_regex(r"\A[0-9]{1,15}\Z")),
            flag=draw(st.sampled_from(["moved_out", "deceased", "cleared"])),
            effective_on=draw(days),
        )
    return TransferInInquiry(
        inquiry_id=draw(st.uuids()),
        former_municipality=draw(local_gov_codes),
        my_number=draw(my_numbers),
        register_confirmed=draw(st.booleans()),
        consent_reference=draw(st.none() | st.text(min_size=1, max_size=64)),
    )


@st.composite
def envelopes(
    draw: st.DrawFn,
    system: SystemId = SystemId.VRS,
    municipality: str = "082279",
    key_id: str = "vrs-key-1",
) -> Envelope:
    """An unsigned envelope from `system` in `municipality`, every other field arbitrary
    (a payload that identifies a person sealed, as it travels)."""
    return sealed_envelope(
        draw(payloads()),
        SEALING_KEY,
        municipality=municipality,
        sender=Party(system=system, instance=draw(instances)),
        recipient=Recipient(
            system=draw(st.sampled_from([s for s in SystemId if s is not SystemId.DESK])),
            municipality=draw(local_gov_codes),
        ),
        procedure=draw(procedures),
        key_id=key_id,
        data_items=tuple(draw(data_items)),
        causation_id=draw(st.none() | st.uuids()),
        traceparent=draw(st.none() | traceparents),
        sent_at=draw(instants),
    )


def shift(moment: datetime, **kwargs: float) -> datetime:
    """`moment` moved by a timedelta."""
    return moment + timedelta(**kwargs)
