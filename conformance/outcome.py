"""What running one case comes to: its status, differences and one-line message.

Kept apart from the runner, which imports torch, so that commands that only list, look
up or judge cases start without it."""

from __future__ import annotations

from dataclasses import dataclass, field

CONFORM, DIFFER, ERROR, SKIPPED = "conform", "differ", "error", "skipped"


class CaseError(Exception):
    """One case failed to produce a plan; the message is the one-line reason. `detail`:
    for an IUT's own failure, its traceback and what it printed (`run --tb`)."""

    def __init__(self, message: str, detail: str = ""):
        super().__init__(message)
        self.detail = detail


class Refused(CaseError):
    """The IUT raised: the case's error, unless the case is a negative one (tag `rejects`),
    whose plan is then the refusal, `rejection` = (exception class, normalised message)."""

    def __init__(self, message: str, detail: str, rejection: tuple[str, str], frames: tuple = ()):
        super().__init__(message, detail)
        self.rejection = rejection
        self.frames = frames  # (file, function) of each frame of the IUT's traceback, outermost first


REJECTS = "rejects"  # the tag of a negative case: the oracle refuses its configuration
# how an IUT's refusal is matched with the oracle's: same class and message, or class alone
REJECTION_MATCHES = ("message", "class")


@dataclass
class Outcome:
    case_id: str
    status: str
    differences: list[str] = field(default_factory=list)
    message: str = ""
    detail: str = ""  # an IUT's traceback and output, shown with `run --tb`
    seconds: float = field(default=0.0, compare=False)  # wall time of the case (the IUT and the comparison)
    actual_plan: str = field(default="", compare=False, repr=False)  # a differing IUT's plan, for `run --html`

    def report(self) -> str:
        if self.status == DIFFER:
            # the sides, once: a line's `A != B` is the golden's value, then the IUT's
            return "\n".join([f"DIFFER {self.case_id} (golden != IUT)"] + [f"    {d}" for d in self.differences])
        if self.status in (ERROR, SKIPPED):
            return f"{self.status.upper()} {self.case_id}: {self.message}"
        return f"CONFORM {self.case_id}"
