"""The rules stream's table store and standby replicas come from the settings."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from carewatch.settings import RulesSettings, Settings
from services.rules.stream.app import build_app


def test_the_rules_store_is_memory_by_default_and_only_memory_or_rocksdb(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CAREWATCH_RULES_STORE", raising=False)
    assert RulesSettings(_env_file=None).store == "memory://"
    with pytest.raises(ValidationError):
        Settings(rules_store="redis://")


@pytest.mark.parametrize(("store", "standby"), [("memory://", 1), ("rocksdb://", 0)])
def test_the_rules_app_uses_the_configured_store_and_standby_replicas(tmp_path: Path, store: str, standby: int) -> None:
    settings = Settings(
        kafka_bootstrap="127.0.0.1:9", data_dir=tmp_path, rules_store=store, rules_standby_replicas=standby
    )
    app = build_app(settings)
    assert app.conf.store.scheme == store.removesuffix("://")
    assert app.conf.table_standby_replicas == standby
    assert Path(app.conf.datadir) == tmp_path / "rules-stream"
