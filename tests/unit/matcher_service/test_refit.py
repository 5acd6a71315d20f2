"""Model refits run off the notice worker's thread: matching goes on with the current model while a fit runs, the
new model is swapped in when it is ready, and a failed fit reaches the worker. Synchronised with events, no sleeps."""

from __future__ import annotations

import threading

import pytest

from contracts import SupplierProfile
from services.matcher.bootstrap import Container, bootstrap_in_memory
from services.matcher.domain import MatchModel, ScoringConfig, fit_model
from services.matcher.exceptions import StoreUnavailable
from services.matcher.settings import Settings
from tests.unit.matcher_service.builders import NOW, notice, supplier

pytestmark = pytest.mark.unit

#: Generous bound on waits for the other thread, never reached when the code is right (not a timing assertion).
WAIT = 10.0


class HeldFit:
    """A fitter that signals when it starts and finishes only when the test releases it (at once if ``released``)."""

    def __init__(self, error: BaseException | None = None, *, released: bool = False) -> None:
        self.started = threading.Event()
        self.release = threading.Event()
        if released:
            self.release.set()
        self.error = error
        self.calls = 0

    def __call__(self, profiles: list[SupplierProfile], config: ScoringConfig, learn: bool) -> MatchModel:
        self.calls += 1
        self.started.set()
        assert self.release.wait(WAIT), "the test never released the fit"
        if self.error is not None:
            raise self.error
        return fit_model(profiles, config=config, learn=learn)


@pytest.fixture
def container() -> Container:
    c = bootstrap_in_memory(Settings(matcher_refit_every_changes=1), clock=lambda: NOW)
    c.matcher.profiles.put(supplier("S1"))
    return c


def test_matching_goes_on_with_the_old_model_while_a_fit_runs(container: Container) -> None:
    m = container.matcher
    m.refit()
    old = m.model
    assert old is not None
    held = HeldFit()
    m.fitter = held
    m.save_profile(supplier("S2"))  # one change: a refit is due

    assert m.refit_in_background(interval_seconds=0)
    assert held.started.wait(WAIT)
    # The fit is in progress: a notice is matched now, with the model that was there.
    shortlist = m.handle_notice(notice("1"))
    assert shortlist is not None
    assert {e.supplier_id for e in shortlist.entries} == {"S1", "S2"}
    assert m.model is old
    assert shortlist.algorithm.endswith(old.algorithm)
    assert not m.refit_in_background(interval_seconds=0)  # one fit at a time

    held.release.set()
    assert m.wait_for_refit(WAIT)
    assert m.model is not old
    assert m.model is not None
    assert m.model.fitted_profiles == 2  # S2 too
    assert held.calls == 1
    assert not m.refit_in_background(interval_seconds=0)  # nothing changed since: not due


def test_a_profile_change_during_a_fit_counts_towards_the_next_one(container: Container) -> None:
    m = container.matcher
    held = HeldFit()
    m.fitter = held
    m.save_profile(supplier("S2"))
    assert m.refit_in_background(interval_seconds=0)
    assert held.started.wait(WAIT)
    m.save_profile(supplier("S3"))  # not in the model being fitted
    held.release.set()
    assert m.wait_for_refit(WAIT)
    assert m.refit_in_background(interval_seconds=0)  # due again, for S3
    assert m.wait_for_refit(WAIT)
    assert m.model is not None
    assert m.model.fitted_profiles == 3  # S3 too


def test_an_unavailable_store_postpones_the_fit_and_an_unexpected_error_reaches_the_worker(
    container: Container,
) -> None:
    m = container.matcher
    m.save_profile(supplier("S2"))
    m.fitter = HeldFit(StoreUnavailable("Elasticsearch does not answer"), released=True)
    assert m.refit_in_background(interval_seconds=0)
    assert m.wait_for_refit(WAIT)
    assert m.model is None
    # No error reaches the worker; the change that made the fit due is still counted, so it is tried again.
    m.fitter = HeldFit(released=True)
    assert m.refit_in_background(interval_seconds=3600)
    assert m.wait_for_refit(WAIT)
    assert m.model is not None

    m.save_profile(supplier("S3"))
    m.fitter = HeldFit(RuntimeError("a bug in fitting"), released=True)
    assert m.refit_in_background(interval_seconds=0)
    assert m.wait_for_refit(WAIT)
    with pytest.raises(RuntimeError, match="a bug in fitting"):
        m.refit_in_background(interval_seconds=0)


def test_profile_changes_made_elsewhere_count_towards_the_next_fit() -> None:
    c = bootstrap_in_memory(Settings(matcher_refit_every_changes=3), clock=lambda: NOW)
    m = c.matcher
    m.refit()
    assert m.note_profile_log(10) == 0, "the first look only takes the position"
    assert not m.refit_in_background(interval_seconds=0)
    # This matcher's own change moves the topic on by one: already counted, not counted twice.
    m.save_profile(supplier("S1"))
    assert m.note_profile_log(11) == 0
    assert not m.refit_in_background(interval_seconds=0)
    # Another process (an import) published two profiles: with the own change, three: a fit is due.
    m.profiles.put(supplier("S2"))
    m.profiles.put(supplier("S3"))
    assert m.note_profile_log(13) == 2
    assert m.refit_in_background(interval_seconds=0)
    assert m.wait_for_refit(WAIT)
    assert m.model is not None
    assert m.model.fitted_profiles == 3
