"""What each process of a stack is given, so that it reaches only what is its own (issue
13): its key folder (`<key_root>/<party>/`, made by `stack.keys.provision_keys`), its
broker user (`stack.broker_users`) and its database role (`stack.roles`), their passwords
drawn anew at each start: no process is given the superuser's DSN. `sesshu stack up`,
`sesshu stack demo` and the end-to-end tests start their processes with `party_envs`.
"""

from __future__ import annotations

from pathlib import Path

from contracts.codes import SystemId
from contracts.keys import SIGNING_KEY_SUFFIX, KeyRing
from hub.custody import SERVER_CERTIFICATE, SERVER_KEY
from hub.web.queues import vhost_in
from stack.keys import keys_for, party_folder, provision_keys
from stack.parties import parties_of
from stack.processes import process_of
from stack.provision import Place
from stack.rosters import provision_rosters
from stack.terminals import provision_terminals, terminal_tokens
from stack.tls import write_atomically

__all__ = [
    "DEFAULT_METRICS_PORT",
    "HTTPS_SERVERS",
    "HUB_WORKER_PORTS",
    "hub_key_file",
    "metrics_ports",
    "party_envs",
]


async def party_envs(
    place: Place,
    key_root: Path,
    ring_dir: Path,
    cities: tuple[str, ...],
    *,
    shc_url: str = "",
    tls_dir: Path | None = None,
    metrics_port: int | None = None,
    roster_dir: Path | None = None,
    terminal_dir: Path | None = None,
) -> dict[str, dict[str, str]]:
    """Every party's keys (made where missing), broker user and database role (the
    databases made and migrated by the place's admin); each process's own settings, by
    process name (`stack.processes.stack_commands`). With `tls_dir` (`sesshu tls init`'s),
    the desk and each certificate center serve HTTPS, each with a copy of its server
    certificate and key in its own folder. With `metrics_port`, each process serves its
    `/metrics` on its own port from it (`metrics_ports`). With `roster_dir`, every city's
    roster there (the demo's, where one is missing: `stack.rosters`), given to each process.
    With `terminal_dir`, every city's certificate-center terminals there (the demo's, where
    a registry is missing, their tokens under `<key_root>/terminals/`: `stack.terminals`)."""
    provision_keys(cities, key_root, ring_dir, shc_url=shc_url)
    if roster_dir is not None:
        provision_rosters(cities, roster_dir)
    if terminal_dir is not None:
        provision_terminals(cities, terminal_dir, terminal_tokens(key_root))
    ring = KeyRing.load(ring_dir)
    parties = parties_of(cities)
    logins = await place.grant_broker(parties)
    roles = await place.grant_databases(parties)
    envs: dict[str, dict[str, str]] = {}
    for party in parties:
        folder = party_folder(key_root, party)
        own = roles[party].url  # both DSN settings: none is left the superuser's
        env = {
            "SESSHU_ADAPTERS__KEY_DIR": str(folder),
            "SESSHU_DATABASE__URL": own(place.database_url),
            "SESSHU_ADAPTERS__DATABASE_URL": own(place.adapters_database_url),
        }
        if roster_dir is not None:
            env["SESSHU_ADAPTERS__ROSTER_DIR"] = str(roster_dir)
        if terminal_dir is not None:
            env["SESSHU_ADAPTERS__TERMINAL_DIR"] = str(terminal_dir)
        if party in logins:
            env["SESSHU_AMQP__URL"] = logins[party].url(place.amqp_url)
        if party.system is SystemId.DESK:
            env["SESSHU_DESK__REVIEW_KEY_DIR"] = str(folder)
            # It has no broker user: its console reads the place's queues from the
            # management API (SESSHU_DESK__BROKER_API_*), which must know the vhost.
            env["SESSHU_DESK__BROKER_API_VHOST"] = vhost_in(place.amqp_url)
        if party.system in (SystemId.HUB, SystemId.DESK):
            # The hub worker signs with its key, the desk the 所属長's decisions with its own.
            env["SESSHU_SIGNING__HUB_KEY_FILE"] = str(hub_key_file(ring, folder))
        name = HTTPS_SERVERS.get(party.system)
        if tls_dir is not None and name and (tls_dir / f"{name}.pem").is_file():
            env |= _https(tls_dir, name, folder)
        envs[process_of(party)] = env
    if metrics_port is not None:
        for name, port in metrics_ports(list(envs), metrics_port).items():
            envs[name]["SESSHU_TELEMETRY__METRICS_PORT"] = str(port)
    return envs


DEFAULT_METRICS_PORT = 9410
"""Where `sesshu stack up` and the demo start their processes' `/metrics` ports."""
HUB_WORKER_PORTS = 8
"""Ports kept for the hub's workers (`--workers N` takes base + i)."""


def metrics_ports(names: list[str], base: int) -> dict[str, int]:
    """The `/metrics` port of each process: the hub's workers from `base`, then the rest
    in order."""
    others = [name for name in names if name != "hub"]
    ports = {name: base + HUB_WORKER_PORTS + index for index, name in enumerate(others)}
    return ({"hub": base} if "hub" in names else {}) | ports


HTTPS_SERVERS = {SystemId.DESK: "desk", SystemId.KIOSK: "kiosk"}
"""The parties that serve HTTPS, and the name of their certificate in `sesshu tls init`'s
folder."""


def _https(tls_dir: Path, name: str, folder: Path) -> dict[str, str]:
    for source, target in ((f"{name}.pem", SERVER_CERTIFICATE), (f"{name}.key", SERVER_KEY)):
        data, copy = (tls_dir / source).read_bytes(), folder / target
        if not copy.is_file() or copy.is_symlink() or copy.read_bytes() != data:
            write_atomically(copy, data, 0o600)
    setting = f"SESSHU_TLS__{name.upper()}"
    return {
        f"{setting}_CERT_FILE": str(folder / SERVER_CERTIFICATE),
        f"{setting}_KEY_FILE": str(folder / SERVER_KEY),
    }


def hub_key_file(ring: KeyRing, folder: Path) -> Path:
    """The newest valid hub-side signing key in a folder (`stack.keys.keys_for`): the hub
    worker's in its own, the desk's in the desk's."""
    key_id = keys_for(ring, folder, SystemId.HUB, None).signer.key_id
    return folder / f"{key_id}{SIGNING_KEY_SUFFIX}"
