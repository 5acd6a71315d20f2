"""A wrong setting ends a command with the setting's name, its value and what is wrong (exit 2), no traceback."""

from __future__ import annotations

import pytest

from services.infra.settings import load_settings
from services.ingest.settings import Settings as IngestSettings
from services.matcher.settings import Settings as MatcherSettings

pytestmark = pytest.mark.unit


def test_a_wrong_value_is_named_with_its_environment_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TB_INGEST_BATCH_SIZE", "abc")
    with pytest.raises(SystemExit) as exited:
        load_settings(IngestSettings)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("configuration error:\n")
    assert "TB_INGEST_BATCH_SIZE='abc': Input should be a valid integer" in err
    assert "Traceback" not in err


def test_every_wrong_value_is_said_at_once(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("TB_MATCHER_WEIGHTS", "category=abc")
    monkeypatch.setenv("TB_MATCHER_HTTP_PORT", "eighty")
    with pytest.raises(SystemExit):
        load_settings(MatcherSettings)
    err = capsys.readouterr().err
    assert "TB_MATCHER_WEIGHTS='category=abc'" in err
    assert "TB_MATCHER_HTTP_PORT='eighty'" in err


def test_good_settings_are_returned(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TB_INGEST_BATCH_SIZE", "7")
    assert load_settings(IngestSettings).ingest_batch_size == 7
