"""Settings: layered, validated, every one documented."""

from __future__ import annotations

from pathlib import Path

import pytest

from syndicate.errors import ConfigError
from syndicate.settings import REGISTRY, load_settings

ROOT = Path(__file__).resolve().parents[1]


def test_every_setting_is_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for setting in REGISTRY:
        assert f"`SYNDICATE_{setting.name}`" in readme, setting.name


def test_defaults(tmp_path: Path) -> None:
    settings = load_settings(environ={}, instance_path=tmp_path)
    assert settings.database_url == f"sqlite:///{tmp_path / 'syndicate.db'}"
    assert settings.site_title == "金融消息"
    assert settings.timezone == "Asia/Shanghai"
    assert settings.feed_size == 50
    assert settings.sources == tmp_path / "sources.toml"


def test_environment_then_instance_file(tmp_path: Path) -> None:
    (tmp_path / "syndicate.toml").write_text('BASE_URL = "https://a.example"\nFEED_SIZE = 10\n')
    settings = load_settings(environ={"SYNDICATE_FEED_SIZE": "20"}, instance_path=tmp_path)
    assert settings.base_url == "https://a.example"
    assert settings.feed_size == 20


@pytest.mark.parametrize(("name", "value"), [("FEED_SIZE", "many"), ("BASE_URL", "news.example.com"),
                                             ("TIMEZONE", "Mars/Olympus")])
def test_bad_values_name_the_setting(tmp_path: Path, name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=f"SYNDICATE_{name}"):
        load_settings(environ={f"SYNDICATE_{name}": value}, instance_path=tmp_path)
