"""The retention report: self-contained HTML with the right numbers, rendered in headless Chromium."""

from __future__ import annotations

import dataclasses
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
from churnml._duckdb import quote_identifier
from churnml.contract._definitions import InactivityChurn, SubscriptionChurn, describe_probability
from churnml.errors import ConfigError
from churnml.features._dataset import build_dataset
from churnml.features._spec import FeatureBuilder
from churnml.modeling._trainer import ChurnTrainer
from churnml.reporting._report import (DEFAULT_ACTIONS, ReportContext, format_money, format_percent, reason_family,
                                       render_report, write_report)
from churnml.scoring._scoring import DriftWarning, scores_definition, write_scores

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


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
    assert f'data-card="revenue at risk">{frame["revenue_at_risk"].sum():,.2f}<' in page
    at_risk = frame[frame["risk_tier"] != "low"]
    assert f"Showing the top 25 of {len(at_risk):,} at-risk accounts" in page
    listed = re.findall(r'<td class="num" data-value="(\d+)">', page)
    assert [int(r) for r in listed] == list(range(1, 26))
    assert html.escape(at_risk.iloc[0]["reason_1"]) in page
    # self-contained: nothing fetched from anywhere
    assert not re.search(r'(src|href)="(https?:)?//', page)
    assert page.count("data:image/png;base64,") >= 2


def test_retention_numbers_appear_with_the_event_data(scores, small_product, tmp_path):
    from churnml.reporting import analytics

    path, model = scores
    data = load(EventSource(small_product["events"]), SubscriptionSource(small_product["subscriptions"]),
                AccountSource(small_product["accounts"]))
    page = write_report(path, tmp_path / "report.html", model=model, data=data).read_text()
    rates = analytics.churn_rate(data).tail(12)
    rates = rates[analytics.steady_periods(rates)]
    mean = rates["churn_rate"].dropna().mean()
    assert f"Mean monthly churn rate {mean:.1%}" in page
    for title in ("Revenue churn", "Activation (core_action within 7 days of signup)", "Inactive accounts",
                  "Engagement segments", "Retention by signup month"):
        assert f"<h3>{html.escape(title)}</h3>" in page
    inactive = analytics.inactive(data, as_of="2024-12-01", accounts=path).counts
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
        model_name="models:/churn@champion", metrics={"test.roc_auc": 0.8123, "test.capture_at_20": 0.3731,
                                                      "baseline.logistic.test.roc_auc": 0.7},
        charts={"calibration": b"\x89PNG fake"}))
    assert "0.812" in page and "logistic regression" in page and "models:/churn@champion" in page
    assert '<td class="num">37.3%</td>' in page  # a share of churners, written as every percentage is
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


# ----------------------------------------------------------------- what the page says, and how


@pytest.fixture(scope="module")
def usage(small_product):
    return load(EventSource(small_product["events"]), SubscriptionSource(small_product["subscriptions"]),
                AccountSource(small_product["accounts"]))


def _browser_dom(url: str, profile: Path) -> str:
    browser = _chromium()
    if browser is None:
        if os.environ.get("CI"):
            pytest.fail("CI must install Chromium (Debian's chromium package) for the report test")
        pytest.skip("Chromium not installed (apt-get install chromium)")
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", f"--user-data-dir={profile}"]
    return subprocess.run([browser, *flags, "--dump-dom", url], capture_output=True, text=True, timeout=120,
                          check=True).stdout


def test_describe_probability_words_the_definition_horizon_and_dates():
    inactivity = describe_probability(InactivityChurn(horizon_days=90), "2024-12-01")
    assert "probability of no activity in the next 90 days (2024-12-01 to 2025-02-28)" in inactivity
    assert "as of 2024-12-01" in inactivity and "inactivity churn" in inactivity
    subscription = describe_probability(SubscriptionChurn(horizon_days=30, lead_time_days=7), "2024-12-01")
    assert "ends without renewal within the 30 days starting 7 days after the date (2024-12-08 to 2025-01-06)" \
        in subscription


def test_a_report_from_the_scores_file_alone_states_the_model_s_definition(scores, tmp_path):
    path, model = scores
    definition = model.churn_definition()
    assert scores_definition(path) == definition  # the Parquet file records it
    page = write_report(path, tmp_path / "report.html").read_text()  # no model given
    assert html.escape(describe_probability(definition, "2024-12-01")) in page
    assert f'data-fact="horizon">{definition.horizon_days} days<' in page and "not known here" not in page
    # a CSV file has no place for it: the page says so rather than guess
    csv = tmp_path / "scores.csv"
    pd.read_parquet(path).to_csv(csv, index=False)
    assert scores_definition(csv) is None
    assert "not known here" in write_report(csv, tmp_path / "from_csv.html").read_text()


def test_the_dom_states_what_the_probability_means_and_opens_an_account_on_click(scores, usage, tmp_path):
    path, model = scores
    frame = pd.read_parquet(path)
    report = write_report(path, tmp_path / "report.html", model=model, data=usage, top=50)
    # the page's own click handler opens the first listed account
    clicked = tmp_path / "clicked.html"
    clicked.write_text(report.read_text().replace(
        "</body></html>", '<script>document.querySelector("#accounts tbody tr").click();</script></body></html>'))
    dom = _browser_dom(clicked.as_uri(), tmp_path / "profile")
    assert 'data-console-errors="' not in dom and 'data-ready="yes"' in dom
    definition = model.churn_definition()
    assert html.escape(describe_probability(definition, "2024-12-01")) in dom
    assert f'data-fact="horizon">{definition.horizon_days} days<' in dom
    assert 'data-fact="as-of">2024-12-01<' in dom
    assert 'data-fact="definition">subscription churn' in dom
    # the per-account view: the top account, its reasons as waterfall steps, its 12 weeks of events
    first = frame.sort_values("rank").iloc[0]
    view = re.search(r'<div id="account-view"([^>]*)>(.*?)<p id="av-action"', dom, re.S)
    assert view and "hidden" not in view.group(1) and f'data-account="{first["user_id"]}"' in view.group(1)
    steps = [float(c) for c in re.findall(r'data-contribution="([^"]+)"', view.group(2))]
    wanted = [first[f"reason_{i}_contribution"] for i in (1, 2, 3) if pd.notna(first[f"reason_{i}_contribution"])]
    assert steps == pytest.approx(wanted, abs=1e-4) and len(steps) == 3
    total = float(re.search(r'data-total="([^"]+)"', view.group(2)).group(1))
    assert total == pytest.approx(sum(wanted), abs=1e-3)
    weeks = [int(c) for c in re.findall(r'class="week" data-count="(\d+)"', view.group(2))]
    assert len(weeks) == 12
    log = usage.backend.sql(
        f"SELECT timestamp FROM {quote_identifier(usage.events.view)} WHERE CAST(user_id AS VARCHAR) = '{first['user_id']}' "
        "AND timestamp < TIMESTAMP '2024-12-01' AND timestamp >= TIMESTAMP '2024-12-01' - INTERVAL 84 DAY").df()
    ago = ((pd.Timestamp("2024-12-01") - log["timestamp"]).dt.total_seconds() // (7 * 86400)).astype(int)
    assert weeks == [int((ago == 11 - k).sum()) for k in range(12)] and sum(weeks) == len(log) > 0
    assert "Suggested action (" in dom
    # plan and MRR of the listed accounts, from the subscriptions running at the date
    assert re.search(r'id="av-meta"[^>]*>plan \w+ · MRR [\d,]+\.\d\d<', dom)


def test_currency_is_shown_when_given_and_not_otherwise(scores, tmp_path):
    path, model = scores
    total = pd.read_parquet(path)["revenue_at_risk"].sum()
    plain = render_report(path)
    assert f'data-card="revenue at risk">{total:,.2f}<' in plain and "£" not in plain
    pounds = write_report(path, tmp_path / "r.html", model=model, currency="£").read_text()
    assert f'data-card="revenue at risk">£{total:,.2f}<' in pounds
    amounts = re.findall(r'<td class="num" data-value="[^"]+">([^<]*)</td>', pounds)
    money = [a for a in amounts if "." in a and not a.endswith("%")]
    assert money and all(a.startswith("£") for a in money)
    assert format_money(-3, "EUR") == "EUR -3.00" and format_money(-3, "€") == "-€3.00"


def test_percentages_are_written_one_way(scores, usage, tmp_path):
    path, model = scores
    page = write_report(path, tmp_path / "r.html", model=model, data=usage).read_text()
    text = re.sub(r"<script.*?</script>|<style.*?</style>|<img[^>]*>", "", page, flags=re.S)
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", text)
    # columns that hold shares or percentages: every cell is "-" or one-decimal "%"
    heads = [re.findall(r"<th[^>]*>([^<]*)</th>", t) for t in re.findall(r"<table.*?</table>", text, flags=re.S)]
    assert not any("pct" in h for hs in heads for h in hs)
    for table in re.findall(r"<table.*?</table>", text, flags=re.S):
        names = re.findall(r"<th[^>]*>([^<]*)</th>", table)
        for row in re.findall(r"<tr>(.*?)</tr>", table.split("</thead>")[-1], flags=re.S):
            values = re.findall(r"<td[^>]*>(.*?)</td>", row, flags=re.S)
            for name, value in zip(names, values):
                if any(w in name for w in ("rate", "share", "churn probability", "gross MRR", "net MRR")):
                    assert value == "-" or re.fullmatch(r"-?\d{1,3}(,\d{3})*\.\d%", value), (name, value)
    assert re.search(r"<th>gross MRR churn</th>", page) and re.search(r"\d\.\d%</td>", page)
    assert cells


def test_histogram_bins_split_at_the_tier_cut_offs(scores):
    import json

    path, model = scores
    frame = pd.read_parquet(path)
    page = render_report(path, context=ReportContext(thresholds=model.info.get("tiers")))
    bins = json.loads(html.unescape(re.search(r'data-bins="([^"]+)"', page).group(1)))
    bins.sort(key=lambda b: b[1])
    for (_, _, upper), (_, lower, _) in zip([b[:3] for b in bins], [b[:3] for b in bins[1:]]):
        assert upper <= lower + 1e-9  # no two bins overlap
    cuts = model.info["tiers"]
    for tier, lower, upper, _ in bins:
        if tier == "low":
            assert upper <= cuts["medium"] + 1e-6
        if tier == "medium":
            assert lower >= cuts["medium"] - 1e-6 and upper <= cuts["high"] + 1e-6
        if tier == "high":
            assert lower >= cuts["high"] - 1e-6
    counted = {t: sum(b[3] for b in bins if b[0] == t) for t in ("low", "medium", "high")}
    assert counted == {t: int((frame["risk_tier"] == t).sum()) for t in ("low", "medium", "high")}


def test_populations_agree_and_unreliable_numbers_are_left_out_with_a_note(scores, usage, tmp_path):
    from churnml.reporting import analytics

    path, model = scores
    scored = len(pd.read_parquet(path))
    page = write_report(path, tmp_path / "r.html", model=model, data=usage).read_text()
    assert page.count(f"Among the {scored:,} scored accounts, as of 2024-12-01.") == 2
    segments = analytics.segments(usage, as_of="2024-12-01", accounts=path)
    assert int(segments.summary["accounts"].sum()) <= scored < int(analytics.segments(usage).summary["accounts"].sum())
    # the 30 days after the date are in the data: each segment's churn rate is known and shown
    known = segments.summary["churn_rate"]
    assert known.notna().any() and "<th>churn rate (no event in 30 days)</th>" in page
    assert format_percent(known.dropna().iloc[0]) in page and 'id="segment-churn-note"' not in page
    # scored at the end of the data, they are not: no column of '-', a note says why
    late = tmp_path / "late.parquet"
    pd.read_parquet(path).assign(as_of=pd.Timestamp("2025-06-01").date()).to_parquet(late)
    page = write_report(late, tmp_path / "late.html", model=model, data=usage).read_text()
    assert 'id="segment-churn-note"' in page and "churn rate (no event" not in page
    rates = analytics.churn_rate(usage).tail(12)
    small = rates[~analytics.steady_periods(rates)]
    assert len(small) and f"{small['period'].iloc[0]:%Y-%m} ({small['active_at_start'].iloc[0]:,})" in page


def test_suggested_actions_per_reason_family_configurable(scores, tmp_path):
    path, model = scores
    frame = pd.read_parquet(path)
    page = write_report(path, tmp_path / "r.html", model=model,
                        actions={"activation": "Call them about set-up."}).read_text()
    assert "Call them about set-up." in page and DEFAULT_ACTIONS["activation"] not in page
    assert DEFAULT_ACTIONS["inactivity"] in page or DEFAULT_ACTIONS["engagement"] in page
    at_risk = frame[frame["risk_tier"] != "low"]
    activation = int(at_risk["reason_1_feature"].map(reason_family).eq("activation").sum())
    row = re.search(r'<tr data-family="activation">.*?<td class="num">([\d,]+)</td>', page, re.S)
    assert activation and row and int(row.group(1).replace(",", "")) == activation
    # a reason_<i>_family column, when the scores carry one, wins over the feature's name
    tagged = frame.assign(**{f"reason_{i}_family": "billing" for i in (1, 2, 3)})
    other = tmp_path / "tagged.parquet"
    tagged.to_parquet(other)
    page = write_report(other, tmp_path / "t.html", actions={"billing": "Check the invoices."}).read_text()
    assert '<tr data-family="billing">' in page and "Check the invoices." in page
    assert reason_family("count_other_30d", "1 rare event (payment failure) in the last 30 days") == "payment_failure"


def test_actions_cover_the_reason_families_and_old_files_get_the_metadatas_family():
    from churnml.features._spec import FeatureSpec, REASON_FAMILIES

    assert set(DEFAULT_ACTIONS) == set(REASON_FAMILIES) | {"other"}
    spec = FeatureSpec(windows=(7, 30), trend_windows=(7,), event_types={"login": "login",
                       "payment_failure": "payment_failure", "support_ticket": "support_ticket"},
                       known_types=("login", "payment_failure", "support_ticket"), has_value=True,
                       activation_events=("login",), activation_days=7, has_signup=True, has_subscriptions=True,
                       plan_levels=["basic", "pro"], attributes={}, lookback_days=30, lifetime=True,
                       bgnbd_horizon_days=30)
    # another spec: other windows and lookback, types whose names hold trouble words but are not trouble
    # (more "support chat" is engagement, as the metadata's direction says), "other" pooling only trouble
    second = dataclasses.replace(spec, windows=(14, 60), trend_windows=(60,), lookback_days=45,
                                 bgnbd_horizon_days=90, activation_days=3,
                                 event_types={"support_chat": "support_chat", "dunning_email": "dunning_email",
                                              "events": "events"},
                                 known_types=("support_chat", "dunning_email", "events", "refund", "error"))
    assert second.type_role("other") == ("friction", 1)
    for infos, rare in ((spec.features(), None), (second.features(), "refund, error")):
        # the pooled type's sentences name its rare types (the first spec pools none)
        sentences = {i.name: f"2 rare events ({rare}) lately" for i in infos if rare and i.event_type == "other"}
        assert len(infos) > 40
        # a scores file without reason_<i>_family: the name rule gives each feature its metadata's family
        wrong = {i.name: (i.reason_family, reason_family(i.name, sentences.get(i.name))) for i in infos
                 if i.reason_family is not None and reason_family(i.name, sentences.get(i.name)) != i.reason_family}
        assert not wrong, wrong
    assert reason_family("count_support_chat_14d") == "engagement" and reason_family("country") == "other"
