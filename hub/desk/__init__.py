"""The approval desk: staff sign in, approvers decide held messages, auditors search the
trail. The HTTP API, the approver page and the CLI all go through `Desk`, so a rule holds
(and is audited) the same way whichever door a person uses.

Every act is written to the audit chain in the transaction that does it: a decision, a
release, a reveal, a log-in (and a failed one), a log-out, an account change. A decision
locks its held row, so two approvers clicking at once are served in turn and the message
is released once; the release queues the journaled bytes and the hub's signed approval
attestation in the outbox, which the relay publishes.

    Desk = Accounts (accounts.py, on Sessions: sessions.py, with the log-in throttle of
    throttle.py) + Viewing (viewing.py) + Decisions (held.py)
    + Trail (trail.py) + Reviewing (reviewing.py: the trail's review, R17)
    + Pruning (retention.py) + Operations (operations.py: the
    operator console) + Redrives (redrives.py), on DeskBase (common.py: store, hub
    signer, clock, refusals)

What it answers with are frozen records the store builds (hub/store/rows.py): HeldRow,
StaffRow, ProvisionRow, read by field by the HTTP API, the pages and the CLI.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from hub.desk.accounts import Accounts
from hub.desk.common import (
    HUB_ACTOR,
    DeskError,
    Forbidden,
    NotAuthenticated,
    NotFound,
    Refused,
    Terminal,
    clean_comment,
    cli_actor,
    cli_terminal,
)
from hub.desk.held import Decisions
from hub.desk.imports import Imports
from hub.desk.operations import Operations
from hub.desk.redrives import Redrives
from hub.desk.retention import Pruning
from hub.desk.review import ReviewView, review_keys
from hub.desk.reviewing import Reviewing
from hub.desk.trail import Trail
from hub.desk.viewing import HeldView, Viewing, envelope_facts
from hub.log_review import ReviewRules
from hub.settings import Settings
from hub.settings.hours import OfficeHours
from hub.store.desk import PgDesk
from hub.store.rows import HeldRow, ProvisionDirection, ProvisionRow, ProvisionState, StaffRow
from routing.policy import load_policy
from storekit.databases import ensure_database

__all__ = [
    "HUB_ACTOR",
    "Desk",
    "DeskError",
    "Forbidden",
    "HeldRow",
    "HeldView",
    "NotAuthenticated",
    "NotFound",
    "ProvisionDirection",
    "ProvisionRow",
    "ProvisionState",
    "Refused",
    "ReviewView",
    "StaffRow",
    "Terminal",
    "clean_comment",
    "cli_actor",
    "cli_terminal",
    "envelope_facts",
    "open_desk",
]


class Desk(Accounts, Viewing, Decisions, Imports, Trail, Reviewing, Pruning, Operations, Redrives):
    """Sessions, held-message decisions and manual imports' checks, the audit trail and
    its review, retention's prune, the operator console and re-drives, on the desk's
    store."""


async def open_desk(
    settings: Settings, *, pool_size: int = 2, clock: Callable[[], datetime] | None = None
) -> Desk:
    """The approval desk on its own small pool (creating and migrating the database);
    `clock` for tests that move time (the throttle reads the audit log's times)."""
    dsn = settings.database.url.get_secret_value()
    await ensure_database(dsn)
    store = await PgDesk.connect(
        dsn, size=pool_size, command_timeout=settings.database.command_timeout_seconds
    )
    return Desk(
        store,
        settings.signing.hub_signer(),
        policy_version=load_policy(settings.routing.directory()).version,
        session_seconds=settings.desk.session_hours * 3600,
        idle_seconds=settings.desk.idle_timeout_seconds,
        review_keys=review_keys(settings.desk.review_key_dir),
        review_rules=ReviewRules(
            OfficeHours.parse(settings.desk.office_hours), settings.desk.unused_account_days
        ),
        clock=clock or (lambda: datetime.now(UTC)),
    )
