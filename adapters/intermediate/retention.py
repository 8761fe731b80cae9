"""R42: the intermediate server deletes the inquiry results whose time has come, and the
inquiries whose reply never came within the same period (interrupted).

The intermediate server has no edge: it speaks no outside protocol, only envelopes with
health management and the network. So its one timed job lives neither in an `edge.py`
(there is no external protocol to speak) nor in the bridge (it builds and acts on no
envelope): it is housekeeping of the server's own book, run by the stack on a clock
beside the other systems' edge polls.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from adapters.ports import IntermediateBook

__all__ = ["Retention"]


@dataclass(frozen=True)
class Retention:
    """The deletion of one intermediate server's finished and interrupted inquiries."""

    book: IntermediateBook
    keep_results: timedelta
    """How long a result is kept (the `delete_after` the server gives each result)."""

    async def purge(self) -> int:
        """Delete what is due now; how many inquiries were deleted."""
        now = datetime.now(UTC)
        return len(await self.book.purge(now, now - self.keep_results))
