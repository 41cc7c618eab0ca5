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
    ("[churn]\ndefinition = 'contract'\n", r"definition must be 'inactivity' or 'subscription'"),
    ("[churn]\nhorizon = 30\n", r"\[churn\] .* unknown key\(s\) \['horizon'\]"),
    ("[features]\nwindow = [7]\n", r"\[features\] .* unknown key\(s\) \['window'\]"),
])
def test_bad_config_files(tmp_path, text, message):
    (tmp_path / "churnml.toml").write_text(text)
    with pytest.raises(ConfigError, match=message):
        read_config(tmp_path / "churnml.toml").definition()


def test_events_are_required():
    with pytest.raises(ConfigError, match=r"No events source: pass --events PATH"):
        read_config(None).source("events")


def test_churn_and_features_tables_build_the_definition_and_builder(tmp_path):
    from churnml.contract._definitions import InactivityChurn, SubscriptionChurn

    (tmp_path / "churnml.toml").write_text("""
[churn]
definition = "subscription"
horizon_days = 45
gap_tolerance_days = 3
involuntary_reasons = ["card_expired"]
step_days = 14

[features]
windows = [7, 28]
trend_windows = []
activation_events = ["core_action"]
""")
    config = read_config(tmp_path / "churnml.toml")
    assert config.definition() == SubscriptionChurn(horizon_days=45, gap_tolerance_days=3,
                                                    involuntary_reasons=("card_expired",))
    assert config.step_days() == 14 and config.step_days(7) == 7
    # A flag wins over the file, and switching the kind keeps only the keys that apply.
    assert config.definition({"definition": "inactivity", "horizon_days": 60}) == InactivityChurn(horizon_days=60)
    builder = config.feature_builder({"windows": (30,)})
    assert builder.windows == (30,) and builder.trend_windows == () and builder.activation_events == ("core_action",)
