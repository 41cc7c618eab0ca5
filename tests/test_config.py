import pytest

from churnml.config import read_config
from churnml.errors import ConfigError


def test_paths_are_relative_to_the_config_file_and_flags_override(tmp_path):
    (tmp_path / "churnml.toml").write_text('[events]\npath = "logs/events.parquet"\nuser_id = "uid"\n')
    config = read_config(tmp_path / "churnml.toml")
    source = config.source("events", {"timestamp": "ts", "user_id": None})
    assert str(source.data) == str(tmp_path / "logs/events.parquet")
    assert source.user_id == "uid" and source.timestamp == "ts"
    assert config.source("accounts") is None


@pytest.mark.parametrize("text, message", [
    ("[event]\npath = 'x'\n", r"unknown table\(s\) \['event'\]"),
    ("[events]\npath = 'x'\nuser = 'u'\n", r"\[events\] .* unknown key\(s\) \['user'\]"),
    ("[events\n", r"is not valid TOML"),
])
def test_bad_config_files(tmp_path, text, message):
    (tmp_path / "churnml.toml").write_text(text)
    with pytest.raises(ConfigError, match=message):
        read_config(tmp_path / "churnml.toml")


def test_events_are_required():
    with pytest.raises(ConfigError, match=r"No events source: pass --events PATH"):
        read_config(None).source("events")
