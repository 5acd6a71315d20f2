"""The notifier's use cases over one set of ports, each in its own module:

- ``delivery.py``: claim -> send -> record for every email, with retries, parking and crash recovery (its docstring
  states the exactly-once guarantee), shared by the three below;
- ``alerts.py``: a shortlist becomes emails (new match, amendment, cancellation) or digest items;
- ``digests.py``: queued digest items become one digest per supplier and day;
- ``confirmations.py``: double opt-in, the confirmation emails and the owner's confirmation;
- ``subscriptions.py``: unsubscribes, the preferences page and the matching-profile page.

``Notifier`` holds them together with what the worker and the HTTP app read beside them (settings, the profile
directory, metrics, the link signer). ``bootstrap.py`` builds it, over real adapters or the in-memory fakes.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.notifier.alerts import Alerts
from services.notifier.confirmations import Confirmations, Confirmed
from services.notifier.delivery import SERVICE, Delivery
from services.notifier.digests import Digests
from services.notifier.domain.profiles import ProfileDirectory
from services.notifier.domain.reasons import CodeTitles
from services.notifier.domain.tokens import Signer
from services.notifier.feedback import SupplierFeedback
from services.notifier.metrics import Metrics
from services.notifier.ports import PreferencesClient
from services.notifier.settings import Settings
from services.notifier.subscriptions import PreferencesSaved, ProfileChange, Subscriptions

__all__ = ["SERVICE", "Confirmed", "Notifier", "PreferencesSaved", "ProfileChange"]


@dataclass
class Notifier:
    """The use cases of one notifier instance, and what its worker and HTTP app read beside them."""

    settings: Settings
    profiles: ProfileDirectory
    metrics: Metrics
    signer: Signer
    matcher: PreferencesClient
    code_titles: CodeTitles
    delivery: Delivery
    alerts: Alerts
    digests: Digests
    confirmations: Confirmations
    subscriptions: Subscriptions
    feedback: SupplierFeedback
