"""The certificate center's HTTP face and who may use it (issue 16; F17-F19, R05-R10):
only a terminal of the city's registry, by its own token; the application on that
terminal's channel, never one the request names; at the counter, a staff account of the
city's roster at a roster terminal, in a department that manages the procedure, and the
record of an ID check made that day by a staff account; the municipality enrolled, on
every channel. Each refusal is answered with its code, recorded with it, and quotes
nothing of the applicant. Against the real center (checks, record, send), its bridge a
recorder; tests/e2e/test_flows.py runs the same refusals against the running stack."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, cast
from uuid import uuid4

import pytest
from fastapi.testclient import TestClient

from adapters.kiosk.bridge import CertificateCenter, MemoryApplicationLog
from adapters.kiosk.edge import MAX_BODY, kiosk_app
from adapters.kiosk.simulator import CardAuthority, MyNumberCard
from adapters.kiosk.terminals import TerminalFile, new_token, token_digest
from adapters.kit.acts import RosterFile
from adapters.kit.bridge import Bridge
from contracts.codes import SystemId
from contracts.payloads import CertificateApplication, Payload
from stack.rosters import COUNTER_CLERK, provision_rosters

CITY, OTHER = "082279", "082074"
MY_NUMBER, NAME = "123456789018", "山田 花子"
AUTHORITY = CardAuthority()


@dataclass
class Sent:
    """Stands in for the center's bridge: what it sent, and with which operator."""

    municipality: str = CITY
    system: SystemId = SystemId.KIOSK
    sent: list[tuple[Payload, str | None]] = field(default_factory=list)

    async def send(self, payload: Payload, **given: Any) -> None:
        self.sent.append((payload, given.get("operator")))


@dataclass
class Center:
    client: TestClient
    bridge: Sent
    log: MemoryApplicationLog
    tokens: dict[str, str]
    registry: Path

    def post(
        self, terminal: str | None, body: object, clerk: str | None = COUNTER_CLERK.operator
    ) -> Any:
        """A terminal's request; at a counter, with the clerk's own credential."""
        headers = {} if terminal is None else {"Authorization": f"Bearer {self.tokens[terminal]}"}
        if clerk is not None:
            headers["X-Clerk-Token"] = self.tokens[f"clerk:{clerk}"]
        return self.client.post("/applications", json=body, headers=headers)


def _registry(path: Path, tokens: dict[str, str], disabled: str = "") -> None:
    channels = {"kiosk-0001": "kiosk", "app-0001": "app", COUNTER_CLERK.terminal: "counter"}
    channels |= {"counter-x": "counter", "old-kiosk": "kiosk"}
    lines = []
    for terminal, channel in channels.items():
        tokens[terminal] = new_token()
        lines += [
            f"[terminals.{terminal}]",
            f'channel = "{channel}"',
            f'token_sha256 = "{token_digest(tokens[terminal])}"',
        ]
        if terminal == "old-kiosk":
            lines.append(f"disabled_on = {date.today() - timedelta(days=1)}")  # noqa: DTZ011
    for clerk in (COUNTER_CLERK.operator, "nobody.here", "old.clerk"):
        tokens[f"clerk:{clerk}"] = new_token()
        lines += [
            f'[clerks."{clerk}"]',
            f'token_sha256 = "{token_digest(tokens[f"clerk:{clerk}"])}"',
        ]
        if clerk == "old.clerk":
            lines.append(f"disabled_on = {date.today() - timedelta(days=1)}")  # noqa: DTZ011
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    path.chmod(0o644)


@pytest.fixture
def center(tmp_path: Path) -> Iterator[Center]:
    provision_rosters((CITY,), tmp_path / "rosters")
    folder = tmp_path / "terminals"
    folder.mkdir(mode=0o755)
    tokens: dict[str, str] = {}
    registry = folder / f"{CITY}.toml"
    _registry(registry, tokens)
    bridge, log = Sent(), MemoryApplicationLog()
    core = CertificateCenter(
        cast(Bridge, bridge),
        AUTHORITY.key.public_key(),
        [CITY],
        RosterFile(tmp_path / "rosters" / f"{CITY}.toml"),
        log,
        wait_seconds=0.05,  # no VRS here: every taken application ends no_certificate
    )
    with TestClient(kiosk_app(core, TerminalFile(registry))) as client:
        yield Center(client, bridge, log, tokens, registry)


def card() -> MyNumberCard:
    return AUTHORITY.issue(
        my_number=MY_NUMBER,
        name=NAME,
        birth_date=date(1980, 4, 1),
        sex=2,
        address="茨城県筑西市丙360",
        pin="1234",
    )


def chip(channel: str = "kiosk") -> dict[str, Any]:
    """A card-read application as a kiosk or the app sends it: no channel field."""
    application = card().apply("1234", application_id=uuid4(), channel=channel)
    return application.model_dump(mode="json", exclude={"channel"})


def counter(**changes: Any) -> dict[str, Any]:
    """A counter application: typed My Number, the ID check the clerk just made."""
    body = chip() | {
        "my_number_source": "typed",
        "card_signature": None,
        "pin_verified": False,
        "identity_check": {
            "document": "driving_licence",
            "checked_by": COUNTER_CLERK.operator,
            "checked_at": _utc(datetime.now(UTC) - timedelta(minutes=3)),
        },
    }
    return body | changes


def _utc(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _quotes_nothing(answer: Any) -> None:
    for secret in (MY_NUMBER, NAME, "1980-04-01", "茨城県筑西市丙360"):
        assert secret not in answer.text


def test_only_a_terminal_of_the_registry_may_apply(center: Center) -> None:
    for headers in (
        {},
        {"Authorization": "Bearer"},
        {"Authorization": f"Basic {center.tokens['kiosk-0001']}"},
        {"Authorization": f"Bearer {new_token()}"},
        {"Authorization": f"Bearer {center.tokens['old-kiosk']}"},  # disabled yesterday
        {"Authorization": f"Bearer {token_digest(center.tokens['kiosk-0001'])}"},  # its digest
    ):
        answer = center.client.post("/applications", json=chip(), headers=headers)
        assert answer.status_code == 401, headers
        assert answer.json()["code"] == "terminal_unauthenticated"
        assert answer.headers["www-authenticate"].startswith("Bearer")
    assert center.bridge.sent == []
    assert center.log.entries == []  # nobody proved who they are: nothing to record


def test_a_registry_anybody_may_write_admits_no_terminal(center: Center) -> None:
    assert center.post("kiosk-0001", chip()).status_code == 504  # taken; no VRS here
    center.registry.chmod(0o666)
    assert center.post("kiosk-0001", chip()).status_code == 401
    center.registry.chmod(0o644)
    center.registry.write_text("[terminals.x]\nchannel = 'fax'\n", encoding="utf-8")
    assert center.post("kiosk-0001", chip()).status_code == 401
    center.registry.unlink()
    assert center.post("kiosk-0001", chip()).status_code == 401


def test_the_channel_is_the_terminals_never_a_request_field(center: Center) -> None:
    named = center.post("kiosk-0001", chip() | {"channel": "counter"})
    assert (named.status_code, named.json()["code"]) == (422, "invalid_application")
    assert named.json()["detail"][0]["loc"] == ["body", "channel"]
    for terminal, channel in (("kiosk-0001", "kiosk"), ("app-0001", "app")):
        assert center.post(terminal, chip()).status_code == 504  # sent on; no VRS here
        application, operator = center.bridge.sent[-1]
        assert isinstance(application, CertificateApplication)
        assert (application.channel, operator) == (channel, None)
    # A kiosk's terminal cannot make a counter application of a typed number: it is a
    # kiosk's, so the chip and the PIN are required (R06, R08).
    typed = center.post("kiosk-0001", counter(identity_check=None))
    assert typed.status_code == 422
    _quotes_nothing(typed)
    staffed = center.post("app-0001", chip() | {"operator": COUNTER_CLERK.operator})
    assert staffed.json()["detail"][0]["loc"] == ["body", "operator"]


def test_a_counter_application_needs_a_clerk_of_the_roster_and_an_id_check(
    center: Center,
) -> None:
    an_hour_ahead = _utc(datetime.now(UTC) + timedelta(hours=1))
    yesterday = _utc(datetime.now(UTC) - timedelta(days=1))
    clerk = COUNTER_CLERK.operator
    cases: list[tuple[str, dict[str, Any], str | None, int, str]] = [
        (COUNTER_CLERK.terminal, counter(), None, 403, "clerk_unauthenticated"),
        (COUNTER_CLERK.terminal, counter(), "old.clerk", 403, "clerk_unauthenticated"),
        (COUNTER_CLERK.terminal, counter(), "nobody.here", 403, "staff_refused"),  # not on roster
        ("counter-x", counter(), clerk, 403, "staff_refused"),  # a terminal not on the roster
        (COUNTER_CLERK.terminal, counter(operator=clerk), clerk, 422, "invalid_application"),
        (COUNTER_CLERK.terminal, counter(identity_check=None), clerk, 422, "invalid_application"),
    ]
    for check, code in (
        ({"checked_by": "nobody.here"}, "identity_check_refused"),
        ({"checked_at": an_hour_ahead}, "identity_check_refused"),
        ({"checked_at": yesterday}, "identity_check_refused"),
        ({"document": "library_card"}, "invalid_application"),
    ):
        body = counter()
        body["identity_check"] |= check
        status = 422 if code == "invalid_application" else 403
        cases.append((COUNTER_CLERK.terminal, body, clerk, status, code))
    for terminal, body, by, status, code in cases:
        answer = center.post(terminal, body, by)
        assert (answer.status_code, answer.json()["code"]) == (status, code), (body, answer.text)
        _quotes_nothing(answer)
    assert center.bridge.sent == []  # none went on to VRS
    refused = sorted(e.reason or "" for e in center.log.entries)
    recorded = [c for *_, status, c in cases if status == 403]
    assert refused == sorted(recorded)  # a counter with no clerk signed in leaves a trace too
    # A My Number typed as the checker is refused unkept (422: before anything is recorded).
    numbered = counter()
    numbered["identity_check"] |= {"checked_by": MY_NUMBER}
    answer = center.post(COUNTER_CLERK.terminal, numbered)
    assert answer.status_code == 422
    _quotes_nothing(answer)
    assert MY_NUMBER not in json.dumps([asdict(e) for e in center.log.entries], default=str)
    # For use abroad the card carries the passport's name: the clerk must have seen it.
    abroad = counter(
        use="overseas",
        passport={
            "romanized_name": "YAMADA HANAKO",
            "nationality": "JPN",
            "passport_number": "TZ1234567",
        },
    )
    answer = center.post(COUNTER_CLERK.terminal, abroad)
    assert (answer.status_code, answer.json()["code"]) == (403, "identity_check_refused")
    assert "passport" in answer.json()["detail"]

    taken = counter()
    assert center.post(COUNTER_CLERK.terminal, taken).status_code == 504  # no VRS here
    ((application, operator),) = center.bridge.sent
    assert isinstance(application, CertificateApplication)
    assert (application.channel, operator) == ("counter", COUNTER_CLERK.operator)
    assert application.identity_check is not None
    assert application.identity_check.document == "driving_licence"
    entry, unanswered = [
        e for e in center.log.entries if e.application_id == application.application_id
    ]
    assert unanswered.outcome == "unanswered"  # no VRS here
    assert (entry.channel, entry.terminal, entry.operator, entry.outcome) == (
        "counter",
        COUNTER_CLERK.terminal,
        COUNTER_CLERK.operator,
        "taken",
    )
    assert (entry.id_document, entry.id_checked_by) == ("driving_licence", COUNTER_CLERK.operator)
    kept = json.dumps([asdict(e) for e in center.log.entries], default=str)
    for secret in (MY_NUMBER, NAME, "1980-04-01"):
        assert secret not in kept


def test_r10_on_every_channel(tmp_path: Path) -> None:
    """The center of a city not enrolled takes no application, from any channel."""
    provision_rosters((OTHER,), tmp_path / "rosters")
    tokens: dict[str, str] = {}
    (tmp_path / "terminals").mkdir(mode=0o755)
    registry = tmp_path / "terminals" / f"{OTHER}.toml"
    _registry(registry, tokens)
    bridge, log = Sent(municipality=OTHER), MemoryApplicationLog()
    core = CertificateCenter(
        cast(Bridge, bridge),
        AUTHORITY.key.public_key(),
        [CITY],  # only Chikusei is enrolled
        RosterFile(tmp_path / "rosters" / f"{OTHER}.toml"),
        log,
        wait_seconds=0.05,
    )
    elsewhere = Center(
        TestClient(kiosk_app(core, TerminalFile(registry))), bridge, log, tokens, registry
    )
    with elsewhere.client:
        for terminal, body in (
            ("kiosk-0001", chip()),
            ("app-0001", chip()),
            (COUNTER_CLERK.terminal, counter()),
        ):
            answer = elsewhere.post(terminal, body)
            assert (answer.status_code, answer.json()["code"]) == (403, "not_enrolled"), terminal
    assert bridge.sent == []
    assert {e.reason for e in log.entries} == {"not_enrolled"}


def test_a_body_too_large_is_refused_unread(center: Center) -> None:
    answer = center.client.post(
        "/applications",
        content=b"{" + b" " * MAX_BODY + b"}",
        headers={"Authorization": f"Bearer {center.tokens['kiosk-0001']}"},
    )
    assert answer.status_code == 413
    for junk in (b"[1, 2]", b"not json", b"\xff\xfe"):
        answer = center.client.post(
            "/applications",
            content=junk,
            headers={"Authorization": f"Bearer {center.tokens['kiosk-0001']}"},
        )
        assert (answer.status_code, answer.json()["code"]) == (422, "invalid_application")


def test_an_application_id_is_used_once_and_every_attempt_is_recorded(center: Center) -> None:
    """A clerk who was refused cannot send a good application under the refused one's id
    and leave only the refusal on record: the second is refused too, and both are kept."""
    refused = counter()
    answer = center.post(COUNTER_CLERK.terminal, refused, "nobody.here")
    assert answer.json()["code"] == "staff_refused"
    again = counter(application_id=refused["application_id"])
    answer = center.post(COUNTER_CLERK.terminal, again)
    assert (answer.status_code, answer.json()["code"]) == (409, "duplicate_application")
    assert center.bridge.sent == []
    assert [(e.outcome, e.reason) for e in center.log.entries] == [
        ("refused", "staff_refused"),
        ("refused", "duplicate_application"),
    ]
    taken = chip()
    assert center.post("kiosk-0001", taken).status_code == 504  # taken; no VRS here
    assert (
        center.post("app-0001", chip() | {"application_id": taken["application_id"]}).json()["code"]
        == "duplicate_application"
    )
    assert len(center.bridge.sent) == 1


def test_a_token_two_holders_share_admits_neither(center: Center) -> None:
    """A terminal's token that is also a clerk's would let the terminal act as the clerk:
    a registry where two share one is no registry."""
    shared = center.tokens["kiosk-0001"]
    text = center.registry.read_text(encoding="utf-8")
    text += f'[clerks."shared.clerk"]\ntoken_sha256 = "{token_digest(shared)}"\n'
    center.registry.write_text(text, encoding="utf-8")
    assert center.post("kiosk-0001", chip()).status_code == 401
    assert center.post("app-0001", chip()).status_code == 401
