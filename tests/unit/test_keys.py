"""Key ring files, key generation and the `sesshu keys` command."""

from __future__ import annotations

import json
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from contracts.codes import SystemId
from contracts.keys import KeyRing, KeyRingError, generate_key, load_sealing_key, load_signing_key
from contracts.signing import Signer, verify_signature
from hub.cli import app

runner = CliRunner()


def test_generate_writes_an_entry_and_two_private_keys(tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        ["keys", "generate", "--system", "vrs", "--municipality", "082279", "--out", str(tmp_path)],
    )
    assert result.exit_code == 0, result.output
    entries = list(tmp_path.glob("*.json"))
    assert len(entries) == 1
    key_id = entries[0].stem
    for suffix in ("signing", "sealing"):
        path = tmp_path / f"{key_id}.{suffix}.pem"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    ring = KeyRing.load(tmp_path)
    entry = ring.get(key_id)
    assert entry is not None
    assert entry.system is SystemId.VRS
    assert entry.municipality == "082279"
    assert entry.not_after - entry.not_before == timedelta(days=365)
    signer = Signer(key_id, load_signing_key(tmp_path / f"{key_id}.signing.pem"))
    assert verify_signature(key_id, signer.sign_bytes(b"hello"), b"hello", ring) == entry
    sealing = load_sealing_key(tmp_path / f"{key_id}.sealing.pem")
    assert ring.sealing_key_for(SystemId.VRS, "082279", datetime.now(UTC))[0] == key_id
    assert sealing.public_key().public_bytes_raw() == entry.sealing_key().public_bytes_raw()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--system", "vrs", "--municipality", "082278"], "check digit"),
        (["--system", "vrs"], "municipality is required"),
        (["--system", "printer", "--municipality", "082279"], "printer"),
    ],
)
def test_generate_refuses_bad_input(tmp_path: Path, args: list[str], message: str) -> None:
    result = runner.invoke(app, ["keys", "generate", *args, "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert message in result.output
    assert not list(tmp_path.glob("*.json"))


def test_a_shared_system_key_needs_no_municipality(tmp_path: Path) -> None:
    result = runner.invoke(app, ["keys", "generate", "--system", "hub", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    (entry,) = KeyRing.load(tmp_path)
    assert entry.municipality is None


def test_generate_never_overwrites(tmp_path: Path) -> None:
    args = [
        "keys",
        "generate",
        "--system",
        "vrs",
        "--municipality",
        "082279",
        "--key-id",
        "vrs-a",
        "--out",
        str(tmp_path),
    ]
    assert runner.invoke(app, args).exit_code == 0
    again = runner.invoke(app, args)
    assert again.exit_code == 2
    assert "already exists" in again.output


def write_entry(directory: Path, name: str, **changes: object) -> None:
    entry = generate_key(SystemId.VRS, "082279", key_id="vrs-good").entry.model_dump(mode="json")
    (directory / name).write_text(json.dumps(entry | changes))


def test_the_ring_reports_every_bad_file_with_its_field(tmp_path: Path) -> None:
    write_entry(tmp_path, "vrs-good.json")
    write_entry(tmp_path, "vrs-bad-code.json", key_id="vrs-bad-code", municipality="082278")
    write_entry(
        tmp_path,
        "vrs-bad-window.json",
        key_id="vrs-bad-window",
        not_after="2000-01-01T00:00:00.000000Z",
    )
    write_entry(tmp_path, "vrs-extra.json", key_id="vrs-extra", colour="red")
    write_entry(tmp_path, "other-name.json")
    (tmp_path / "notes.txt").write_text("ignored")
    with pytest.raises(KeyRingError) as caught:
        KeyRing.load(tmp_path)
    text = str(caught.value)
    assert "vrs-bad-code.json: municipality" in text
    assert "vrs-bad-window.json" in text
    assert "not_after" in text
    assert "vrs-extra.json: colour" in text
    assert "other-name.json: key_id must equal the file name" in text
    assert "vrs-good.json" not in text


def test_keys_list_shows_the_ring(tmp_path: Path) -> None:
    write_entry(tmp_path, "vrs-good.json", revoked=True)
    result = runner.invoke(app, ["keys", "list", "--ring", str(tmp_path)])
    assert result.exit_code == 0
    assert "vrs-good\tvrs\t082279\trevoked" in result.output


def test_a_missing_ring_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(KeyRingError, match="does not exist"):
        KeyRing.load(tmp_path / "nope")


def test_a_ring_entry_is_read_strictly(tmp_path: Path) -> None:
    # "revoked": "yes" must not load as true (nor "no" as anything): one spelling, as on
    # the wire; a revocation written wrongly is an error, not a guess.
    key = generate_key(SystemId.VRS, "082279", key_id="vrs-strict-1")
    key.write(tmp_path)
    path = tmp_path / "vrs-strict-1.json"
    entry = json.loads(path.read_text())
    path.write_text(json.dumps(entry | {"revoked": "yes"}))
    with pytest.raises(KeyRingError, match=r"vrs-strict-1\.json: revoked"):
        KeyRing.load(tmp_path)
