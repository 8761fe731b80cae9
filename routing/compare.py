"""Comparing policies: what a new list grants or takes away, and what it would decide."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from contracts.envelope import Envelope
from routing.decision import Context, Decision, Deliver, Hold, Reject, decide
from routing.policy import Flag, Policy, Row

__all__ = ["Replay", "describe", "diff", "outcome"]


def _row_text(row: Row) -> str:
    end = row.effective_to.isoformat() if row.effective_to else "open"
    return (
        f"{row.procedure} {row.data_item} {row.direction}: "
        f"{row.inquirer_system.value}@{row.inquirer_org} -> "
        f"{row.provider_system.value}@{row.provider_org}, "
        f"{row.effective_from.isoformat()}..{end}, kept {row.retention_days} days"
    )


def _flag_text(flag: Flag) -> str:
    return (
        f"auto-response disabled: {flag.system.value}@{flag.org} {flag.procedure} {flag.data_item}"
    )


def diff(old: Policy, new: Policy) -> list[str]:
    """`+ ...` for what the new policy adds, `- ...` for what it drops (with line numbers)."""
    lines: list[str] = []
    for kind, old_items, new_items, text in (
        ("permitted.csv", old.rows, new.rows, _row_text),
        ("auto_response_disabled.csv", old.flags, new.flags, _flag_text),
    ):
        before = {text(i): i.line for i in old_items}  # type: ignore[arg-type]
        after = {text(i): i.line for i in new_items}  # type: ignore[arg-type]
        lines += [f"- {kind}:{before[t]}: {t}" for t in before if t not in after]
        lines += [f"+ {kind}:{after[t]}: {t}" for t in after if t not in before]
    return lines


def outcome(decision: Decision) -> str:
    """A decision as the journal writes it: `deliver`, `hold:<code>`, `reject:<code>`."""
    if isinstance(decision, Deliver):
        return "deliver"
    if isinstance(decision, Hold):
        return f"hold:{decision.code}"
    if isinstance(decision, Reject):
        return f"reject:{decision.code}"
    raise TypeError(f"unknown decision {decision!r}")  # pragma: no cover


def describe(decision: str, reason_code: str | None) -> str:
    """A journal row's decision in the same form as `outcome`."""
    return decision if decision == "deliver" else f"{decision}:{reason_code}"


@dataclass
class Replay:
    """The journal's decisions replayed under another policy."""

    policy: Policy
    context: Context
    replayed: int = 0
    unchanged: int = 0
    changes: Counter[tuple[str, str, str, str]] = field(default_factory=Counter)
    examples: dict[tuple[str, str, str, str], list[str]] = field(default_factory=dict)

    def add(self, envelope: Envelope, recorded: str) -> None:
        """Replay one journaled envelope whose recorded decision was `recorded`."""
        now = outcome(decide(envelope, self.policy, self.context))
        self.replayed += 1
        if now == recorded:
            self.unchanged += 1
            return
        key = (
            recorded,
            now,
            envelope.kind,
            f"{envelope.procedure} {','.join(envelope.data_items)}",
        )
        self.changes[key] += 1
        self.examples.setdefault(key, [])
        if len(self.examples[key]) < 3:
            self.examples[key].append(str(envelope.id))

    def report(self) -> Iterable[str]:
        """Lines for the terminal: totals, then each change with counts and example ids."""
        changed = self.replayed - self.unchanged
        yield (
            f"replayed {self.replayed} decisions under policy {self.policy.version}: "
            f"{self.unchanged} unchanged, {changed} would change"
        )
        for (was, now, kind, what), count in self.changes.most_common():
            yield f"  {count:>6}  {was} -> {now}  {kind}  {what}"
            yield f"          e.g. {', '.join(self.examples[(was, now, kind, what)])}"
