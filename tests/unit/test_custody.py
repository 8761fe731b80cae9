"""Key custody (issue 13, R43): each party's keys in a folder of its own, private, and a
process that refuses to start with a folder holding another party's private key."""

from __future__ import annotations

import re
import shutil
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from contracts.codes import SystemId
from contracts.keys import KeyRing
from hub.cli import app
from hub.custody import CustodyError
from stack.keys import CARD_AUTHORITY_PARTY, check_party_folder, party_folder, provision_keys
from stack.parties import Party, parties_of

CITIES = ("082279", "082074")
runner = CliRunner()


@pytest.fixture
def root(tmp_path: Path) -> Path:
    provision_keys(CITIES, tmp_path / "parties", tmp_path / "ring")
    return tmp_path


def _ring(root: Path) -> KeyRing:
    return KeyRing.load(root / "ring")


def _folder(root: Path, system: SystemId, city: str | None = None) -> Path:
    return party_folder(root / "parties", Party(system, city))


def test_every_party_gets_a_private_folder_holding_only_its_own_keys(root: Path) -> None:
    for party in parties_of(CITIES):
        folder = party_folder(root / "parties", party)
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, party.name
        for path in folder.rglob("*"):
            if path.is_dir():
                assert stat.S_IMODE(path.stat().st_mode) == 0o700, path
            elif not path.name.endswith((".json", ".pub.pem")):
                assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        check_party_folder(folder, party, _ring(root))  # raises if not


def test_a_servers_sealing_key_is_in_its_folder_alone(root: Path) -> None:
    """R43: only the inquirer's intermediate server can open a provision sealed to it."""
    holders = [
        party.name
        for party in parties_of(CITIES)
        for entry in _ring(root)
        if entry.system is SystemId.INTERMEDIATE
        and (party_folder(root / "parties", party) / f"{entry.key_id}.sealing.pem").exists()
    ]
    assert sorted(holders) == [f"intermediate-{city}" for city in sorted(CITIES)]
    hub = _folder(root, SystemId.HUB)
    assert [p.name for p in hub.glob("*.pem")] == [
        p.name for p in hub.glob("hub-*.pem")
    ]  # the hub's own, nothing else


@pytest.mark.parametrize(
    ("owner", "into"),
    [
        ((SystemId.INTERMEDIATE, "082074"), (SystemId.VRS, "082279")),  # another system's
        ((SystemId.INTERMEDIATE, "082074"), (SystemId.INTERMEDIATE, "082279")),  # another city's
        ((SystemId.HUB, None), (SystemId.NWS, None)),
        ((SystemId.DESK, None), (SystemId.HEALTH_MGMT, "082279")),
    ],
)
def test_a_folder_holding_another_partys_private_key_is_refused(
    root: Path, owner: tuple[SystemId, str | None], into: tuple[SystemId, str | None]
) -> None:
    source, target = _folder(root, *owner), _folder(root, *into)
    foreign = next(source.glob("*.sealing.pem"))
    shutil.copy(foreign, target / foreign.name)
    with pytest.raises(CustodyError, match=re.escape(f"holds {foreign.name}, which is not")):
        check_party_folder(target, Party(*into), _ring(root))


def test_the_card_authoritys_private_key_is_in_no_partys_folder(root: Path) -> None:
    kiosk = _folder(root, SystemId.KIOSK, "082279")
    assert (kiosk / "card-authority.pub.pem").is_file()
    private = root / "parties" / CARD_AUTHORITY_PARTY / "card-authority.pem"
    shutil.copy(private, kiosk / private.name)
    with pytest.raises(CustodyError, match=re.escape("card-authority.pem")):
        check_party_folder(kiosk, Party(SystemId.KIOSK, "082279"), _ring(root))


def test_a_secret_of_another_city_is_refused(root: Path) -> None:
    mine = _folder(root, SystemId.INTERMEDIATE, "082279")
    theirs = _folder(root, SystemId.INTERMEDIATE, "082074") / "linkage-082074.secret"
    shutil.copy(theirs, mine / theirs.name)
    with pytest.raises(CustodyError, match=re.escape("linkage-082074.secret")):
        check_party_folder(mine, Party(SystemId.INTERMEDIATE, "082279"), _ring(root))


@pytest.mark.parametrize("what", ["folder", "key"])
def test_a_folder_or_key_others_may_read_is_refused(root: Path, what: str) -> None:
    folder = _folder(root, SystemId.VRS, "082279")
    target = folder if what == "folder" else next(folder.glob("*.signing.pem"))
    target.chmod(0o755 if what == "folder" else 0o644)
    with pytest.raises(CustodyError, match="may be read by others"):
        check_party_folder(folder, Party(SystemId.VRS, "082279"), _ring(root))


def test_a_symbolic_link_is_refused(root: Path) -> None:
    folder = _folder(root, SystemId.VRS, "082279")
    (folder / "elsewhere.pem").symlink_to(_folder(root, SystemId.HUB))
    with pytest.raises(CustodyError, match="symbolic link"):
        check_party_folder(folder, Party(SystemId.VRS, "082279"), _ring(root))


@pytest.mark.parametrize(
    "argv", [["stack", "city", "082279", "vrs"], ["stack", "network"]], ids=["city", "network"]
)
def test_a_process_given_a_folder_with_a_foreign_key_does_not_start(
    root: Path, argv: list[str]
) -> None:
    party = Party(SystemId.VRS, "082279") if argv[1] == "city" else Party(SystemId.NWS)
    folder = party_folder(root / "parties", party)
    foreign = next(_folder(root, SystemId.INTERMEDIATE, "082279").glob("*.sealing.pem"))
    shutil.copy(foreign, folder / foreign.name)
    done = runner.invoke(
        app,
        argv,
        env={
            "SESSHU_ADAPTERS__KEY_DIR": str(folder),
            "SESSHU_SIGNING__RING_DIR": str(root / "ring"),
        },
    )
    assert done.exit_code == 2, done.output
    assert f"holds {foreign.name}, which is not {party.name}'s private key" in done.output


def test_a_city_process_names_its_system() -> None:
    done = runner.invoke(app, ["stack", "city", "082279", "nws"])
    assert done.exit_code == 2
    assert "system: one of health_mgmt, intermediate, vrs, kiosk" in done.output


@pytest.mark.parametrize(
    ("source", "into"), [(SystemId.HUB, SystemId.DESK), (SystemId.DESK, SystemId.HUB)]
)
def test_the_hub_worker_and_the_desk_do_not_hold_each_others_signing_key(
    root: Path, source: SystemId, into: SystemId
) -> None:
    """Both sign as the hub, each with a key of its own (the desk the 所属長's decisions)."""
    theirs = next(_folder(root, source).glob("hub-*.signing.pem"))
    shutil.copy(theirs, _folder(root, into) / theirs.name)
    with pytest.raises(CustodyError, match=re.escape(f"holds {theirs.name}")):
        check_party_folder(_folder(root, into), Party(into), _ring(root))


@pytest.mark.parametrize("command", ["hub", "desk"])
def test_the_hub_and_the_desk_do_not_start_with_another_partys_key(
    root: Path, command: str
) -> None:
    folder = _folder(root, SystemId.HUB if command == "hub" else SystemId.DESK)
    own = next(folder.glob("hub-*.signing.pem"))
    foreign = next(_folder(root, SystemId.VRS, "082279").glob("*.sealing.pem"))
    shutil.copy(foreign, folder / foreign.name)
    done = runner.invoke(
        app,
        [command],
        env={
            "SESSHU_SIGNING__HUB_KEY_FILE": str(own),
            "SESSHU_DESK__REVIEW_KEY_DIR": str(_folder(root, SystemId.DESK)),
            "SESSHU_SIGNING__RING_DIR": str(root / "ring"),
        },
    )
    assert done.exit_code == 2, done.output
    assert f"{command}: {folder} holds {foreign.name}, which is not {command}'s" in done.output


def _their_sealing_key(root: Path) -> Path:
    return next(_folder(root, SystemId.INTERMEDIATE, "082279").glob("*.sealing.pem"))


@pytest.mark.parametrize("disguise", ["x.pub.pem", "x.json"])
def test_a_private_key_under_a_public_name_is_refused(root: Path, disguise: str) -> None:
    folder = _folder(root, SystemId.VRS, "082279")
    shutil.copy(_their_sealing_key(root), folder / disguise)
    (folder / disguise).chmod(0o600)
    with pytest.raises(CustodyError, match=re.escape(f"holds {disguise}")):
        check_party_folder(folder, Party(SystemId.VRS, "082279"), _ring(root))


def test_a_key_with_a_made_up_entry_beside_it_is_refused(root: Path) -> None:
    """Only the ring says whose a key is: an entry lying in the folder does not."""
    folder = _folder(root, SystemId.VRS, "082279")
    own = next(folder.glob("vrs-*.json"))
    fake = folder / "vrs-082279-fake.json"
    fake.write_text(own.read_text().replace(own.stem, "vrs-082279-fake"))
    fake.chmod(0o600)
    shutil.copy(_their_sealing_key(root), folder / "vrs-082279-fake.sealing.pem")
    with pytest.raises(CustodyError, match=re.escape("holds vrs-082279-fake.sealing.pem")):
        check_party_folder(folder, Party(SystemId.VRS, "082279"), _ring(root))


def test_another_key_copied_over_an_own_keys_name_is_refused(root: Path) -> None:
    folder = _folder(root, SystemId.VRS, "082279")
    own = next(folder.glob("vrs-*.sealing.pem"))
    own.write_bytes(_their_sealing_key(root).read_bytes())
    with pytest.raises(CustodyError, match=re.escape(f"holds {own.name}")):
        check_party_folder(folder, Party(SystemId.VRS, "082279"), _ring(root))


def test_a_hard_link_to_another_partys_key_is_refused(root: Path) -> None:
    folder = _folder(root, SystemId.VRS, "082279")
    (folder / "linked.sealing.pem").hardlink_to(_their_sealing_key(root))
    with pytest.raises(CustodyError, match="hard link"):
        check_party_folder(folder, Party(SystemId.VRS, "082279"), _ring(root))
