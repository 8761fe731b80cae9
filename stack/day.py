"""A realistic day for the demo, played by the simulators against the running stack.

Morning: both cities' address systems hand over their residents (F1), who get their
tickets and notices (F2, F11) and their 符号 (F5). The sites record doses (F12), the
clinics return 予診票 (F3, F4), VRS exports (F13). Three people moved: Chikusei's counter
asks Yuki for two of them and Yuki's counter asks Chikusei for one (F14, F15). Chikusei's
health management asks Yuki, over the network, about one mover's history (F6): Yuki's
reply is flagged 自動応答不可 and waits for Yuki's 所属長 on the approval page (F7, R37).
A resident asks the portal for their own data (F9, F10), and one gets a certificate at a
convenience-store kiosk (F19), saved as a QR code and as the PDF to print.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adapters.health_mgmt.simulator import Town
from adapters.kiosk.simulator import CardAuthority, at_the_kiosk
from adapters.kit.rows import rows_csv
from adapters.kit.shc import Issuer, qr_png, verify
from adapters.nws.simulator import self_requests
from adapters.vrs.simulator import site_readings, transfer_requests
from hub.store.postgres import PgStore
from stack.keys import card_authority
from stack.rosters import COUNTER_CLERK, HEALTH_CLERK
from stack.terminals import KIOSK_TERMINAL, token_of

__all__ = ["FLOWS", "Day"]

CHIKUSEI, YUKI = "082279", "082074"
# What the summary shows: the flow and the message kind that carries it.
FLOWS: tuple[tuple[str, str], ...] = (
    ("F1 F11", "target_registration"),
    ("F2 F10", "resident_notice"),
    ("F3 F4", "fukuhon_registration"),
    ("F5", "linkage_registration"),
    ("F6", "inquiry_request"),
    ("F6", "provision_permit"),
    ("F7", "provision_response"),
    ("F6", "inquiry_result"),
    ("R47", "provision_record"),
    ("F8", "permitted_list_update"),
    ("F9", "self_information_request"),
    ("F12", "dose_record"),
    ("F13", "vaccination_export"),
    ("F14", "transfer_in_inquiry"),
    ("F15", "transfer_out_provision"),
    ("F16", "resident_status_flag"),
    ("F17-F19", "certificate_application"),
    ("F17-F19", "certificate_issued"),
    ("R37", "approval_attestation"),
    ("", "rejection_notice"),
)
Say = Callable[[str], None]


@dataclass
class Day:
    """The day's script, and what it needs of the running stack."""

    data_dir: Path
    key_dir: Path
    kiosk_url: Callable[[str], str]
    ca_file: Path | None
    """The CA the kiosk's HTTPS is verified against."""
    token_dir: Path
    """The demo terminals' credentials (`stack.terminals`)."""
    store: PgStore
    code_of: Callable[[str, str], Awaitable[str | None]]
    """The portal's view: a resident's 符号 at a city (known from the card log-in)."""
    issuer: Issuer
    out: Path
    say: Say
    wait: float = 90.0
    towns: dict[str, Town] = field(default_factory=dict)

    async def run(self) -> None:
        """Play the day; each step waits for the hub to have carried the one before."""
        chikusei, yuki = Town(CHIKUSEI, seed=82279), Town(YUKI, seed=82074)
        self.towns = {CHIKUSEI: chikusei, YUKI: yuki}
        await self._morning(chikusei, yuki)
        movers = yuki.people[:2]
        back = chikusei.people[0]
        arrived = [chikusei.moved_in(m) for m in movers]
        went = yuki.moved_in(back)
        self._drop(
            CHIKUSEI, "health_mgmt", "residents", "movers.csv", rows_csv(arrived, HEALTH_CLERK)
        )
        self._drop(YUKI, "health_mgmt", "residents", "movers.csv", rows_csv([went], HEALTH_CLERK))
        await self._until("target_registration", 4, "the movers registered")
        gone = [m | {"status": "moved_out", "status_on": "2026-11-20"} for m in movers]
        self._drop(YUKI, "health_mgmt", "residents", "moved-out.csv", rows_csv(gone, HEALTH_CLERK))
        left = back | {"status": "moved_out", "status_on": "2026-11-20"}
        self._drop(
            CHIKUSEI, "health_mgmt", "residents", "moved-out.csv", rows_csv([left], HEALTH_CLERK)
        )
        await self._until("resident_status_flag", 3, "the moved-out flags")
        self.say("afternoon: 3 people moved; VRS flagged them moved out where they left (F16)")
        await self._vaccinations(chikusei, yuki, movers)
        await self._transfers(arrived, went)
        await self._inquiry(arrived[0])
        await self._portal(chikusei.people[4])
        await self._kiosk(chikusei.people[3])

    async def _morning(self, chikusei: Town, yuki: Town) -> None:
        for town in (chikusei, yuki):
            self._drop(
                town.city,
                "health_mgmt",
                "residents",
                "residents.csv",
                rows_csv(town.residents(24), HEALTH_CLERK),
            )
        await self._until("target_registration", 2, "targets and tickets registered in VRS")
        await self._until("linkage_registration", 48, "a 符号 for every resident")
        self.say("morning: 48 residents registered, ticketed, notified and coded (F1 F2 F5 F11)")

    async def _vaccinations(self, chikusei: Town, yuki: Town, movers: list[dict[str, Any]]) -> None:
        for town in (chikusei, yuki):
            doses = [(p["ticket_number"], n) for p in town.people[:8] for n in (1, 2)]
            self._drop(town.city, "vrs", "doses", "site.csv", site_readings(doses, COUNTER_CLERK))
            self._drop(
                town.city,
                "health_mgmt",
                "records",
                "clinic.csv",
                town.returned_forms(town.people[:10], bad=1, by=HEALTH_CLERK),
            )
        await self._until("dose_record", 32, "the doses read at the sites")
        await self._until("fukuhon_registration", 68, "the 副本 registered")
        await self._until("vaccination_export", 2, "the VRS exports")
        self.say(
            "day: 32 doses recorded, 20 予診票 returned (2 bad rows reported), "
            "exports sent (F3 F4 F12 F13)"
        )

    async def _transfers(self, arrived: list[dict[str, Any]], went: dict[str, Any]) -> None:
        self._drop(
            CHIKUSEI,
            "vrs",
            "transfer_in",
            "counter.csv",
            transfer_requests(arrived, YUKI, COUNTER_CLERK),
        )
        self._drop(
            YUKI,
            "vrs",
            "transfer_in",
            "counter.csv",
            transfer_requests([went], CHIKUSEI, COUNTER_CLERK),
        )
        await self._until("transfer_out_provision", 3, "the former cities' answers")
        self.say("counter: 3 transfer-in inquiries answered by the former cities (F14 F15)")

    async def _inquiry(self, mover: dict[str, Any]) -> None:
        self._drop(
            CHIKUSEI,
            "health_mgmt",
            "inquiries",
            "ask.csv",
            rows_csv([{"person": mover["person"], "provider": YUKI}], HEALTH_CLERK),
        )
        await self._until("provision_response", 1, "Yuki's reply")
        self.say(
            "network: Chikusei asked Yuki about a mover; "
            "the reply waits for Yuki's 所属長 (F6 F7 R37)"
        )

    async def _portal(self, resident: dict[str, Any]) -> None:
        code = await self.code_of(CHIKUSEI, resident["person"])
        if code is None:
            self.say("portal: the resident has no 符号 yet")
            return
        portal = self.data_dir / "nws" / "portal"
        self._drop_at(
            portal / "requests" / "inbox", "requests.csv", self_requests([(CHIKUSEI, code)])
        )
        await self._until("self_information_request", 1, "the portal request")
        self.say("portal: a resident asked for their own data and got it back (F9 F10)")

    async def _kiosk(self, resident: dict[str, Any]) -> None:
        card = CardAuthority(key=card_authority(self.key_dir)).card_for(resident, "4821")
        status, answer = await at_the_kiosk(
            self.kiosk_url(CHIKUSEI),
            card,
            "4821",
            token=token_of(self.token_dir, CHIKUSEI, KIOSK_TERMINAL),
            ca_file=self.ca_file,
        )
        if status != 201:
            self.say(f"kiosk: no certificate ({status} {answer.get('code')})")
            return
        jws = str(answer["jws"])
        verify(jws, [self.issuer])
        png = qr_png(jws, self.out / "certificate.png")
        pdf = self.out / "certificate.pdf"
        pdf.write_bytes(base64.b64decode(str(answer["pdf_base64"])))
        self.say(
            f"kiosk: certificate {answer['certificate_id']} issued and verified, "
            f"QR in {png}, to print in {pdf} (F19)"
        )

    def _drop(self, city: str, system: str, folder: str, name: str, data: bytes) -> None:
        self._drop_at(self.data_dir / city / system / folder / "inbox", name, data)

    def _drop_at(self, inbox: Path, name: str, data: bytes) -> None:
        inbox.mkdir(parents=True, exist_ok=True)
        partial = inbox / f"{name}.part"
        partial.write_bytes(data)
        partial.replace(inbox / name)

    async def _until(self, kind: str, count: int, what: str) -> None:
        for _ in range(int(self.wait * 4)):
            done = sum(n for k, _, _, n in await self.store.journal_by_kind() if k == kind)
            if done >= count:
                return
            await asyncio.sleep(0.25)
        self.say(f"(still waiting for {what} after {self.wait:.0f} s; going on)")
