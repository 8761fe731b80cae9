"""What each process of a stack is given, so that it reaches only what is its own (issue
13): its key folder (`<key_root>/<party>/`, made by `stack.keys.provision_keys`) and its
broker user (`stack.broker_users`, a password drawn anew at each start). `sesshu stack up`,
`sesshu stack demo`, the end-to-end tests and the benchmarks all start their processes
with `party_envs`.
"""

from __future__ import annotations

from pathlib import Path

from contracts.codes import SystemId
from stack.keys import party_folder, provision_keys
from stack.parties import parties_of
from stack.processes import process_of
from stack.provision import Place

__all__ = ["hub_key_file", "party_envs"]


async def party_envs(
    place: Place, key_root: Path, ring_dir: Path, cities: tuple[str, ...], *, shc_url: str = ""
) -> dict[str, dict[str, str]]:
    """Every party's keys (made where missing) and broker user; each process's own
    settings, by process name (`stack.processes.stack_commands`)."""
    provision_keys(cities, key_root, ring_dir, shc_url=shc_url)
    parties = parties_of(cities)
    logins = await place.grant_broker(parties)
    envs: dict[str, dict[str, str]] = {}
    for party in parties:
        folder = party_folder(key_root, party)
        env = {"SESSHU_ADAPTERS__KEY_DIR": str(folder)}
        if party in logins:
            env["SESSHU_AMQP__URL"] = place.amqp_url_of(logins[party])
        if party.system is SystemId.DESK:
            env["SESSHU_DESK__REVIEW_KEY_DIR"] = str(folder)
        if party.system in (SystemId.HUB, SystemId.DESK):
            # The desk signs the 所属長's attestations with the hub's key, for now.
            env["SESSHU_SIGNING__HUB_KEY_FILE"] = str(hub_key_file(key_root))
        envs[process_of(party)] = env
    return envs


def hub_key_file(key_root: Path) -> Path:
    """The hub's newest signing key in its folder."""
    folder = key_root / SystemId.HUB.value
    found = sorted(folder.glob("hub-*.signing.pem"))
    if not found:
        raise FileNotFoundError(f"no hub signing key in {folder} (sesshu stack keys)")
    return found[-1]
