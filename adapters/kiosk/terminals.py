"""The terminals that may reach a city's certificate center, and how each proves who it is
(F17-F19, R05-R10).

Every terminal has its own credential: a random token it sends as `Authorization: Bearer
<token>` over the center's TLS, of which the center knows only the SHA-256 digest. The
channel of an application is the authenticated terminal's (`kiosk`, `app`, `counter`),
never a field of the request. Credentials rather than a client certificate per terminal:
the center's HTTP server (uvicorn) gives the application no peer certificate to read, and
a token is revoked by deleting one line.

The registry is a TOML file per city, `<terminal_dir>/<code>.toml`, guarded as the
roster is (writable by its owner alone, in a folder only its owner may write; read again
when it changes; while it is missing or unreadable every terminal is refused)::

    [terminals.kiosk-0001]                # a convenience-store kiosk
    channel = "kiosk"
    token_sha256 = "9f86d0...15b0f00a08"  # hex SHA-256 of the terminal's token

    [terminals.vrs-term-01]               # a counter terminal: also on the city's roster
    channel = "counter"
    token_sha256 = "..."
    disabled_on = 2027-03-31              # refused from that day on (Japan's)

    [clerks."staff.madoguchi.01"]         # a counter clerk's own credential
    token_sha256 = "..."

A counter terminal's request also carries the clerk's own token (`X-Clerk-Token`), which
the clerk signs in to the counter's application with: the staff account that took the
application is the one whose token it is, never a name the request gives, so holding a
counter terminal's credential is not enough to act as any clerk of the roster.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, StringConstraints, ValidationError, model_validator

from adapters.kit.acts import TerminalId, guarded_file, tokyo_today
from contracts.envelope import StaffId

__all__ = [
    "Channel",
    "Terminal",
    "TerminalFile",
    "TerminalRegistry",
    "new_token",
    "token_digest",
]

Channel = Literal["kiosk", "app", "counter"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)


class TerminalEntry(_Strict):
    """One terminal: its channel, the digest of its token, the day it stops."""

    channel: Channel
    token_sha256: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
    description: Annotated[str, StringConstraints(max_length=200)] = ""
    disabled_on: date | None = None


class ClerkEntry(_Strict):
    """A counter clerk's own credential: the digest of the token the clerk signs in to a
    counter terminal's application with, and the day it stops."""

    token_sha256: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
    disabled_on: date | None = None


class TerminalRegistry(_Strict):
    """A city's terminals by id, and its counter clerks' credentials by staff account."""

    terminals: dict[TerminalId, TerminalEntry] = {}
    clerks: dict[StaffId, ClerkEntry] = {}

    @model_validator(mode="after")
    def _one_token_one_holder(self) -> TerminalRegistry:
        digests = [t.token_sha256 for t in self.terminals.values()]
        digests += [c.token_sha256 for c in self.clerks.values()]
        if len(digests) != len(set(digests)):
            raise ValueError("a token is each terminal's or clerk's own: two share one")
        return self


@dataclass(frozen=True)
class Terminal:
    """A terminal that proved who it is."""

    id: str
    channel: Channel


def new_token() -> str:
    """A terminal's credential: 256 random bits, URL-safe."""
    return secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    """What the registry keeps of a token."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass
class TerminalFile:
    """A city's terminal registry, read again whenever it changes."""

    path: Path | None
    _seen: tuple[int, int] | None = None
    _registry: TerminalRegistry | None = None
    problem: str = "no terminal registry is set"

    def authenticate(self, authorization: str | None, on: date | None = None) -> Terminal | None:
        """The terminal whose token the `Authorization` header carries, enabled on `on`
        (today in Japan); None for anything else, alike (no header, another scheme, an
        unknown or disabled token, no registry)."""
        scheme, _, token = (authorization or "").partition(" ")
        registry = self.registry()
        if scheme.lower() != "bearer" or registry is None:
            return None
        found = _holder(registry.terminals, token, on)
        return None if found is None else Terminal(found, registry.terminals[found].channel)

    def clerk(self, credential: str | None, on: date | None = None) -> str | None:
        """The staff account whose own token `credential` is (a counter request's
        `X-Clerk-Token`), enabled on `on`; None for anything else, alike."""
        registry = self.registry()
        return None if registry is None else _holder(registry.clerks, credential or "", on)

    def registry(self) -> TerminalRegistry | None:
        """The registry as the file holds it now; None, with `problem` saying why."""
        if self.path is None:
            self.problem = "no terminal registry is set"
            return None
        info, problem = guarded_file(self.path)
        if info is None:
            self.problem, self._registry, self._seen = problem, None, None
            return None
        seen = (info.st_mtime_ns, info.st_size)
        if seen != self._seen:
            self._registry, self.problem = _read(self.path)
            self._seen = seen
        return self._registry


def _holder(
    entries: Mapping[str, TerminalEntry | ClerkEntry], token: str, on: date | None
) -> str | None:
    """Who of `entries` holds `token` and is enabled on `on` (today in Japan)."""
    if not token.strip():
        return None
    digest, day = token_digest(token.strip()), on or tokyo_today()
    for holder, entry in entries.items():
        if hmac.compare_digest(entry.token_sha256, digest):
            enabled = entry.disabled_on is None or day < entry.disabled_on
            return holder if enabled else None
    return None


def _read(path: Path) -> tuple[TerminalRegistry | None, str]:
    try:
        text = path.read_text(encoding="utf-8")
        return TerminalRegistry.model_validate(tomllib.loads(text)), ""
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None, f"{path.name} is not readable TOML"
    except ValidationError as exc:
        first = exc.errors(include_input=False, include_url=False)[0]
        where = ".".join(map(str, first["loc"])) or "registry"
        return None, f"{path.name}: {where}: {first['msg']}"
