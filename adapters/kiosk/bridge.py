"""The certificate center behind the kiosks, the app and the counter (F17-F19).

An application comes from a terminal that proved who it is (`adapters.kiosk.terminals`),
on that terminal's channel. It is checked here first: the municipality takes applications
at the center at all (R10, on every channel); at the counter, the staff account that took
it and the terminal are on the city's roster, the account's department manages the
certificate procedure, and the ID check was made, by whom and when (F17); elsewhere the
card's chip and PIN (R06), its signature (R07) and a My Number read from the chip (R08).
Then it is sent to VRS; the center waits for the certificate and hands it to the terminal
that asked. It keeps nothing of the person or the certificate (R50): they live only in
this process's memory while the terminal waits; what is written is the inbox's message id
and the record of the application (`kiosk.applications`: terminal, channel, staff
account, ID-check record, outcome).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from uuid import UUID

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from adapters.kiosk.terminals import Terminal
from adapters.kit import counts
from adapters.kit.acts import Act, RosterFile, tokyo_today
from adapters.kit.bridge import Bridge
from adapters.kit.card_check import CardRejected, check_application
from adapters.kit.handlers import Handler, payload_of, refused_by_recipient
from adapters.ports import ApplicationEntry, ApplicationLog, InboxTransaction
from contracts.codes import SystemId
from contracts.envelope import Envelope, new_message_id
from contracts.payloads import CertificateApplication, CertificateIssued, DeliveryRefusal

__all__ = [
    "CERTIFICATE_PROCEDURE",
    "CertificateCenter",
    "CertificateRefused",
    "DuplicateApplication",
    "MemoryApplicationLog",
    "NoCertificate",
]

CERTIFICATE_PROCEDURE = "S19-16"
"""The procedure a counter clerk's department must manage to take an application."""
ID_CHECK_VALID = timedelta(minutes=30)
"""How old the counter's ID check may be: made while the applicant is at the counter."""
CLOCK_SKEW = timedelta(minutes=5)

log = logging.getLogger("sesshu.adapters.kiosk")


class DuplicateApplication(Exception):
    """An application with the id of one still waiting (a terminal sent it twice)."""


class NoCertificate(Exception):
    """VRS answered nothing in time."""


class CertificateRefused(Exception):
    """VRS refused the application; `code` says why (a `RefusalCode`)."""

    def __init__(self, code: str) -> None:
        super().__init__(f"VRS refused the application: {code}")
        self.code = code


class MemoryApplicationLog:
    """The center's record of applications in memory, for tests."""

    def __init__(self) -> None:
        self.entries: list[ApplicationEntry] = []

    async def log(self, entry: ApplicationEntry) -> None:
        """Keep one attempt."""
        self.entries.append(entry)

    async def known(self, application_id: UUID) -> bool:
        """Whether an application with this id was made already."""
        return any(e.application_id == application_id for e in self.entries)


@dataclass
class CertificateCenter:
    """One city's certificate center."""

    bridge: Bridge
    card_authority: Ed25519PublicKey
    enrolled: Collection[str]
    roster: RosterFile
    log: ApplicationLog
    wait_seconds: float = 20.0
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    _open: set[UUID] = field(default_factory=set)
    """The application ids being answered: reserved before the first await, so two
    requests with one id cannot both pass the check."""
    _pending: dict[UUID, tuple[UUID, asyncio.Future[CertificateIssued]]] = field(
        default_factory=dict
    )
    """By the envelope each open application went to VRS in: its id and its waiter."""

    def handlers(self) -> dict[str, Handler]:
        """The center receives certificates, and VRS's refusals of applications."""
        return {"certificate_issued": self.on_issued, "delivery_refusal": self.on_refused}

    async def apply(
        self, application: CertificateApplication, terminal: Terminal, operator: str | None = None
    ) -> CertificateIssued:
        """Check the application the terminal sent (on its own channel), record it, send
        it to VRS and wait for the certificate (CardRejected, CertificateRefused,
        DuplicateApplication, NoCertificate)."""
        if application.channel != terminal.channel:
            raise ValueError("the application's channel is the terminal's")
        application_id = application.application_id
        reserved = application_id not in self._open
        self._open.add(application_id)
        try:
            if not reserved or await self.log.known(application_id):
                # An id is used once: a certificate never answers two applications, and
                # the record of the first stands beside the refusal of the second.
                await self.log.log(_entry(application, terminal, operator, "duplicate_application"))
                raise DuplicateApplication("an application with this id was made already")
            return await self._taken(application, terminal, operator)
        finally:
            if reserved:
                self._open.discard(application_id)

    async def refused_unsigned(
        self, application: CertificateApplication, terminal: Terminal
    ) -> None:
        """Record a counter application no clerk signed in for (`clerk_unauthenticated`):
        a counter terminal's credential alone leaves a trace too."""
        await self.log.log(_entry(application, terminal, None, "clerk_unauthenticated"))
        counts.event(self.bridge, "certificate_refused")

    async def _taken(
        self, application: CertificateApplication, terminal: Terminal, operator: str | None
    ) -> CertificateIssued:
        try:
            self._check(application, terminal, operator)
        except CardRejected as exc:
            await self.log.log(_entry(application, terminal, operator, exc.code))
            counts.event(self.bridge, "certificate_refused")
            raise
        await self.log.log(_entry(application, terminal, operator, None))
        try:
            issued = await self._answer(application, operator)
        except CertificateRefused as exc:
            await self.log.log(_entry(application, terminal, operator, exc.code, "vrs_refused"))
            counts.event(self.bridge, "certificate_refused")
            raise
        except NoCertificate:
            await self.log.log(_entry(application, terminal, operator, None, "unanswered"))
            counts.event(self.bridge, "certificate_refused")
            raise
        except BaseException as exc:  # a failed send, a cancelled request: said, then raised
            failed = _entry(application, terminal, operator, type(exc).__name__, "failed")
            await asyncio.shield(self.log.log(failed))
            raise
        await self.log.log(_entry(application, terminal, operator, None, "issued"))
        counts.event(self.bridge, "certificate_issued")
        return issued

    def _check(
        self, application: CertificateApplication, terminal: Terminal, operator: str | None
    ) -> None:
        check_application(
            application,
            card_authority=self.card_authority,
            municipality=self.bridge.municipality,
            enrolled=self.enrolled,
        )
        if terminal.channel == "counter":
            self._check_counter(application, terminal, operator)

    def _check_counter(
        self, application: CertificateApplication, terminal: Terminal, operator: str | None
    ) -> None:
        """F17: a staff account of this city took it at a terminal of its roster, in a
        department that manages the procedure, after an ID check a staff account made."""
        if operator is None:
            raise CardRejected(
                "staff_account_required", "a counter application names the staff account (F17)"
            )
        gate, today = self.roster.gate(), tokyo_today()
        refused = gate.refusal(Act(operator, terminal.id), [CERTIFICATE_PROCEDURE], today)
        if refused is not None:
            raise CardRejected("staff_refused", f"{refused[0]}: {refused[1]}")
        check = application.identity_check
        if check is None:  # the contract requires it at the counter; said again here
            raise CardRejected("identity_check_refused", "identity_check: required (F17)")
        if check.checked_by != operator:
            # The record says who saw the document: the clerk who signed in and took it.
            raise CardRejected(
                "identity_check_refused", "checked_by: the clerk who took the application"
            )
        now = self.clock()
        if check.checked_at > now + CLOCK_SKEW:
            raise CardRejected("identity_check_refused", "checked_at: in the future")
        if check.checked_at < now - ID_CHECK_VALID:
            raise CardRejected(
                "identity_check_refused",
                "checked_at: the ID check was not made in the last 30 minutes (F17)",
            )
        if application.use == "overseas" and check.document != "passport":
            # The name an overseas card carries is the passport's: the clerk saw it.
            raise CardRejected(
                "identity_check_refused", "document: an overseas certificate needs the passport"
            )

    async def _answer(
        self, application: CertificateApplication, operator: str | None
    ) -> CertificateIssued:
        waiter = asyncio.get_running_loop().create_future()
        message_id = new_message_id()
        self._pending[message_id] = (application.application_id, waiter)
        try:
            # Sealed to VRS: the hub routes it and journals only ciphertext (R50).
            await self.bridge.send(
                application,
                to=SystemId.VRS,
                procedure=CERTIFICATE_PROCEDURE,
                data_item="covid.certificate",
                operator=operator,
                message_id=message_id,
            )
            return await asyncio.wait_for(waiter, self.wait_seconds)
        except TimeoutError:
            raise NoCertificate("VRS issued no certificate for this application") from None
        finally:
            self._pending.pop(message_id, None)

    def _from_our_vrs(self, envelope: Envelope) -> bool:
        return envelope.sender.system is SystemId.VRS and (
            str(envelope.municipality) == self.bridge.municipality
        )

    async def on_issued(self, envelope: Envelope, tx: InboxTransaction) -> None:
        """Hand a certificate from this city's VRS, in answer to the envelope this center
        sent, to the terminal waiting for it; if none waits (the application closed,
        R05), forget it."""
        if not self._from_our_vrs(envelope):
            await tx.record_effect("refused:not_this_citys_vrs")
            return
        issued = payload_of(envelope, CertificateIssued)  # opened by the bridge
        pending = self._pending.get(envelope.causation_id) if envelope.causation_id else None
        if pending is None or pending[0] != issued.application_id or pending[1].done():
            await tx.record_effect("certificate:nobody_waiting")
            return
        pending[1].set_result(issued)
        await tx.record_effect("certificate:handed_over")

    async def on_refused(self, envelope: Envelope, tx: InboxTransaction) -> None:
        """VRS refused an application this center sent: its terminal is told at once
        (CertificateRefused with VRS's code); any other refusal is recorded as the
        adapters record every refusal of what they sent."""
        refusal = payload_of(envelope, DeliveryRefusal)
        pending = self._pending.get(refusal.refused_message_id)
        if not self._from_our_vrs(envelope) or pending is None or pending[1].done():
            await refused_by_recipient(envelope, tx)
            return
        pending[1].set_exception(CertificateRefused(refusal.reason_code))
        await tx.record_effect(f"certificate:refused:{refusal.reason_code}")


def _entry(
    application: CertificateApplication,
    terminal: Terminal,
    operator: str | None,
    refusal: str | None,
    outcome: str | None = None,
) -> ApplicationEntry:
    check = application.identity_check
    return ApplicationEntry(
        application_id=application.application_id,
        channel=terminal.channel,
        terminal=terminal.id,
        operator=operator,
        id_document=None if check is None else check.document,
        id_checked_by=None if check is None else check.checked_by,
        id_checked_at=None if check is None else check.checked_at,
        outcome=outcome or ("taken" if refusal is None else "refused"),
        reason=refusal,
    )
