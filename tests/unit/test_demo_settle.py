"""``localrun.demo.wait_settled`` with an idle check: the demo's wait ends once nothing is lost, every consumer has
committed its input and one more read back changes nothing; never while something is missing or a consumer is
behind, and not on a read back that still brings something new. Counted in read backs, never in seconds."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from localrun.demo import Summary, wait_settled

pytestmark = pytest.mark.unit

#: Long enough that only the idle check (or the end of the scripted read backs) can end the wait.
FOREVER = 1e9


def summary(emails: int, lost: int = 0) -> Summary:
    return Summary(notices=3, dead_lettered=0, shortlists=3, emails=emails, duplicate_emails=0, lost=lost, seconds=0)


class ScriptedLedger:
    """What each read back finds, in order (the last one again once the script is over)."""

    def __init__(self, script: list[Summary]) -> None:
        self._script: Iterator[Summary] = iter(script)
        self._current = script[0]
        self.events: dict[str, list[str]] = {}
        self.refreshes = 0

    def refresh(self) -> None:
        self.refreshes += 1
        assert self.refreshes < 50, "the wait did not end"
        self._current = next(self._script, self._current)

    def summary(self) -> Summary:
        return self._current


def settle(ledger: ScriptedLedger, idle: list[bool]) -> tuple[Summary, int]:
    answers = iter(idle)
    asked = 0

    def is_idle() -> bool:
        nonlocal asked
        asked += 1
        return next(answers)

    ledger_: Any = ledger  # the ledger's duck type: refresh, summary, events
    return wait_settled(ledger_, FOREVER, quiet=FOREVER, interval=0, idle=is_idle), asked


def test_the_wait_ends_once_nothing_is_lost_the_consumers_are_idle_and_a_last_read_back_brings_nothing() -> None:
    ledger = ScriptedLedger([summary(1, lost=2), summary(3)])
    done, asked = settle(ledger, [True])
    assert (done.emails, done.lost, ledger.refreshes, asked) == (3, 0, 3, 1)


def test_the_wait_goes_on_while_a_consumer_has_not_committed_its_input() -> None:
    ledger = ScriptedLedger([summary(3)])
    done, asked = settle(ledger, [False, False, True])
    assert (done.emails, ledger.refreshes, asked) == (3, 4, 3)


def test_the_wait_goes_on_when_the_last_read_back_still_brings_something() -> None:
    # Idle, but the confirming read back finds a late email: not settled on that one; the next round is.
    ledger = ScriptedLedger([summary(3), summary(4)])
    done, asked = settle(ledger, [True, True])
    assert (done.emails, ledger.refreshes, asked) == (4, 4, 2)


def test_nothing_lost_is_asked_before_the_consumers_are() -> None:
    ledger = ScriptedLedger([summary(1, lost=2), summary(2, lost=1), summary(3)])
    done, asked = settle(ledger, [True])
    assert (done.lost, ledger.refreshes, asked) == (0, 4, 1)
