"""The certificate center behind the kiosks, the app and the counter (F17-F19).

An application is checked here first (R06, R07, R08 for the card; R10 for the kiosk),
then sent to VRS; the center waits for the certificate and hands it to the terminal that
asked. It stores nothing (R50): the application and the certificate live only in this
process's memory while the terminal waits, and the only row written for a delivery is
the inbox's message id.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection
from dataclasses import dataclass, field
from uuid import UUID

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from adapters.kit import counts
from adapters.kit.bridge import Bridge
from adapters.kit.card_check import CardRejected, check_application
from adapters.kit.handlers import Handler, payload_of
from adapters.ports import InboxTransaction
from contracts.codes import SystemId
from contracts.envelope import Envelope
from contracts.payloads import CertificateApplication, CertificateIssued

__all__ = ["CertificateCenter", "DuplicateApplication", "NoCertificate"]

log = logging.getLogger("sesshu.adapters.kiosk")


class DuplicateApplication(Exception):
    """An application with the id of one still waiting (a terminal sent it twice)."""


class NoCertificate(Exception):
    """VRS issued no certificate in time (no record of a dose, or a refusal there)."""


@dataclass
class CertificateCenter:
    """One city's certificate center."""

    bridge: Bridge
    card_authority: Ed25519PublicKey
    enrolled: Collection[str]
    wait_seconds: float = 20.0
    _waiting: dict[UUID, asyncio.Future[CertificateIssued]] = field(default_factory=dict)

    def handlers(self) -> dict[str, Handler]:
        """The center only ever receives certificates."""
        return {"certificate_issued": self.on_issued}

    async def apply(self, application: CertificateApplication) -> CertificateIssued:
        """Check, send to VRS, wait for the certificate (CardRejected, NoCertificate)."""
        try:
            issued = await self._answer(application)
        except (CardRejected, NoCertificate):
            counts.event(self.bridge, "certificate_refused")
            raise
        counts.event(self.bridge, "certificate_issued")
        return issued

    async def _answer(self, application: CertificateApplication) -> CertificateIssued:
        check_application(
            application,
            card_authority=self.card_authority,
            municipality=self.bridge.municipality,
            enrolled=self.enrolled,
        )
        if application.application_id in self._waiting:
            raise DuplicateApplication("an application with this id is being answered")
        waiter = asyncio.get_running_loop().create_future()
        self._waiting[application.application_id] = waiter
        try:
            # Sealed to VRS: the hub routes it and journals only ciphertext (R50).
            await self.bridge.send(
                application, to=SystemId.VRS, procedure="S19-16", data_item="covid.certificate"
            )
            return await asyncio.wait_for(waiter, self.wait_seconds)
        except TimeoutError:
            raise NoCertificate("VRS issued no certificate for this application") from None
        finally:
            self._waiting.pop(application.application_id, None)

    async def on_issued(self, envelope: Envelope, tx: InboxTransaction) -> None:
        """Hand a certificate to the terminal waiting for it; if none waits, forget it."""
        issued = payload_of(envelope, CertificateIssued)  # opened by the bridge
        waiter = self._waiting.get(issued.application_id)
        if waiter is not None and not waiter.done():
            waiter.set_result(issued)
            await tx.record_effect("certificate:handed_over")
        else:
            await tx.record_effect("certificate:nobody_waiting")
