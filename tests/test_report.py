"""The retention report: self-contained HTML with the right numbers, rendered in headless Chromium."""

from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
import warnings
from pathlib import Path

import pandas as pd
import pytest

from churnml import AccountSource, EventSource, SubscriptionSource, load
from churnml.dataset import build_dataset
from churnml.definitions import SubscriptionChurn
from churnml.errors import ConfigError
from churnml.features import FeatureBuilder
from churnml.report import ReportContext, render_report, write_report
from churnml.scoring import DriftWarning, write_scores
from churnml.trainer import ChurnTrainer

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


@pytest.fixture(scope="module")
def scores(small_product, tmp_path_factory):
    data = load(EventSource(small_product["events"]), SubscriptionSource(small_product["subscriptions"]),
                AccountSource(small_product["accounts"]))
    training = build_dataset(data, SubscriptionChurn(horizon_days=30),
                             builder=FeatureBuilder(activation_events=["core_action"], activation_days=7))
    model = ChurnTrainer().fit(training).model_
    path = tmp_path_factory.mktemp("scores") / "scores.parquet"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DriftWarning)
        write_scores(model, data, path, as_of="2024-12-01")
    return path, model


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def test_headline_numbers_and_the_ranked_list(scores, tmp_path):
    path, model = scores
    frame = pd.read_parquet(path)
    page = write_report(path, tmp_path / "report.html", model=model, top=25).read_text()
    tiers = frame["risk_tier"].value_counts()
    assert f'data-card="accounts scored">{len(frame):,}<' in page
    for tier in ("high", "medium", "low"):
        assert f'data-card="{tier} risk">{tiers.get(tier, 0):,}<' in page
    assert f"{frame['revenue_at_risk'].sum():,.0f}" in page
    at_risk = frame[frame["risk_tier"] != "low"]
    assert f"Showing the top 25 of {len(at_risk):,} at-risk accounts" in page
    listed = re.findall(r'<td class="num" data-value="(\d+)">', page)
    assert [int(r) for r in listed] == list(range(1, 26))
    assert html.escape(at_risk.iloc[0]["reason_1"]) in page
    # self-contained: nothing fetched from anywhere
    assert not re.search(r'(src|href)="(https?:)?//', page)
    assert page.count("data:image/png;base64,") >= 2


def test_retention_numbers_appear_with_the_event_data(scores, small_product, tmp_path):
    from churnml import analytics

    path, model = scores
    data = load(EventSource(small_product["events"]), SubscriptionSource(small_product["subscriptions"]),
                AccountSource(small_product["accounts"]))
    page = write_report(path, tmp_path / "report.html", model=model, data=data).read_text()
    rates = analytics.churn_rate(data).tail(12)
    mean = rates["churn_rate"].dropna().mean()
    assert f"Mean monthly churn rate {mean:.1%}" in page
    for title in ("Revenue churn", "Activation (core_action within 7 days of signup)", "Inactive accounts",
                  "Engagement segments", "Retention by signup month"):
        assert f"<h3>{html.escape(title)}</h3>" in page
    inactive = analytics.inactive(data).counts
    assert f"{int(inactive['inactive_accounts'].iloc[0]):,}" in page
    without = render_report(path)
    assert "Retention numbers" not in without


def test_refuses_files_that_are_not_scores(tmp_path):
    bad = tmp_path / "other.csv"
    pd.DataFrame({"user_id": [1], "probability": [0.5]}).to_csv(bad, index=False)
    with pytest.raises(ConfigError, match="not a churnml scores file.*'churn_probability'"):
        render_report(bad)
    with pytest.raises(ConfigError, match="already exists"):
        (tmp_path / "r.html").write_text("old")
        write_report(bad, tmp_path / "r.html")


def test_model_metrics_and_charts_appear_when_given(scores):
    path, _ = scores
    page = render_report(path, context=ReportContext(
        model_name="models:/churn@champion", metrics={"test.roc_auc": 0.8123, "baseline.logistic.test.roc_auc": 0.7},
        charts={"calibration": b"\x89PNG fake"}))
    assert "0.812" in page and "logistic regression" in page and "models:/churn@champion" in page
    assert "<figcaption>calibration</figcaption>" in page


def test_renders_in_headless_chromium_without_console_errors(scores, tmp_path):
    browser = _chromium()
    if browser is None:
        if os.environ.get("CI"):
            pytest.fail("CI must install Chromium (Debian's chromium package) for the report test")
        pytest.skip("Chromium not installed (apt-get install chromium)")
    path, model = scores
    frame = pd.read_parquet(path)
    at_risk = int((frame["risk_tier"] != "low").sum())
    report = write_report(path, tmp_path / "report.html", model=model, top=300)
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
             f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0"]
    dom = subprocess.run([browser, *flags, "--dump-dom", report.as_uri()], capture_output=True, text=True,
                         timeout=120, check=True)
    # the script ran to its end and counted the listed rows
    assert 'data-ready="yes"' in dom.stdout
    assert f"showing {min(300, at_risk):,} of {min(300, at_risk):,} listed accounts" in dom.stdout
    assert f'data-card="accounts scored">{len(frame):,}<' in dom.stdout
    assert 'data-console-errors="' not in dom.stdout
    # the filter (from the link): only the listed rows that mention 'medium'
    listed = frame[frame["risk_tier"] != "low"].head(300)
    medium = int((listed["risk_tier"] == "medium").sum())
    dom = subprocess.run([browser, *flags, "--dump-dom", report.as_uri() + "#filter=medium"], capture_output=True,
                         text=True, timeout=120, check=True)
    assert f"showing {medium:,} of {len(listed):,} listed accounts" in dom.stdout and 0 < medium < len(listed)
    # the check itself can fail: the same page with a script error and a console.error call
    broken = tmp_path / "broken.html"
    broken.write_text(report.read_text().replace('document.body.dataset.ready = "yes";',
                                                 'console.error("boom"); no_such_function();'))
    dom = subprocess.run([browser, *flags, "--dump-dom", broken.as_uri()], capture_output=True, text=True,
                         timeout=120, check=True)
    errors = re.search(r'data-console-errors="([^"]*)"', dom.stdout)
    assert errors and "boom" in errors.group(1) and "no_such_function" in errors.group(1)
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "report.png"
    subprocess.run([browser, *flags, "--window-size=1300,2200", f"--screenshot={shot}", report.as_uri()],
                   capture_output=True, timeout=120, check=True)
    assert shot.read_bytes()[:4] == b"\x89PNG" and shot.stat().st_size > 20_000
