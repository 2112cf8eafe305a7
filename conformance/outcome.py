"""What running one case comes to: its status, differences and one-line message.

Kept apart from the runner, which imports torch, so that commands that only list, look
up or judge cases start without it."""

from __future__ import annotations

from dataclasses import dataclass, field

CONFORM, DIFFER, ERROR, SKIPPED = "conform", "differ", "error", "skipped"


class CaseError(Exception):
    """One case failed to produce a plan; the message is the one-line reason."""


@dataclass
class Outcome:
    case_id: str
    status: str
    differences: list[str] = field(default_factory=list)
    message: str = ""

    def report(self) -> str:
        if self.status == DIFFER:
            return "\n".join([f"DIFFER {self.case_id}"] + [f"    {d}" for d in self.differences])
        if self.status in (ERROR, SKIPPED):
            return f"{self.status.upper()} {self.case_id}: {self.message}"
        return f"CONFORM {self.case_id}"
