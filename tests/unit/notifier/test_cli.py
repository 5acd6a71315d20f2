"""Support commands: the signed links a supplier gets in every email, printed for one supplier."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from typer.testing import CliRunner

from services.notifier.domain import tokens
from services.notifier.entrypoints.cli import app as cli

pytestmark = pytest.mark.unit

ENV = {"TB_NOTIFIER_UNSUBSCRIBE_SECRET": "s3cret", "TB_NOTIFIER_PUBLIC_URL": "https://alerts.example.org/"}


@pytest.mark.parametrize(
    ("command", "path", "purpose"),
    [("unsubscribe-url", "/unsubscribe", tokens.UNSUBSCRIBE), ("preferences-url", "/preferences", tokens.PREFERENCES)],
)
def test_a_supplier_link_is_signed_for_its_purpose(command: str, path: str, purpose: str) -> None:
    result = CliRunner().invoke(cli, [command, "sup-cn-1"], env=ENV)
    assert result.exit_code == 0, result.output
    url = urlsplit(result.stdout.strip())
    assert (url.scheme, url.netloc, url.path) == ("https", "alerts.example.org", path)
    [token] = parse_qs(url.query)["token"]
    assert tokens.verify(b"s3cret", purpose, token) == "sup-cn-1"
    other = tokens.PREFERENCES if purpose == tokens.UNSUBSCRIBE else tokens.UNSUBSCRIBE
    with pytest.raises(tokens.InvalidToken):
        tokens.verify(b"s3cret", other, token)  # a preferences link cannot unsubscribe, nor the reverse
