//! Resolution of representative real configs, with expectations derived from the rules in
//! `spec/config.md` (precedence, outcomes, depends_on, covariates, parameters, templating).

use chrono::NaiveDate;
use jetstream_config::enums::{
    AnalysisBasis, AnalysisPeriod, AnalysisWindow, ExperimentsColumnType, WindowLimit,
};
use jetstream_config::experiment::Experiment;
use jetstream_config::resolve::{AnalysisConfiguration, Summary, resolve_experiment, resolve_spec};
use jetstream_config::spec::AnalysisSpec;
use jetstream_config::statistic::{CovariateAdjustment, PreTreatment, Statistic};

use crate::configs;

fn start() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 1, 5).expect("date")
}

fn resolve(slug: &str, app: &str) -> AnalysisConfiguration {
    let e = Experiment::dummy(slug, app, start());
    resolve_experiment(&e, configs().spec_for_experiment(slug), configs())
        .unwrap_or_else(|err| panic!("{slug}: {err}"))
}

fn summaries<'a>(
    r: &'a AnalysisConfiguration,
    p: AnalysisPeriod,
    metric: &str,
) -> Vec<&'a Summary> {
    r.metrics[&p]
        .iter()
        .filter(|s| s.metric.name == metric)
        .collect()
}

fn stat_names(r: &AnalysisConfiguration, p: AnalysisPeriod, metric: &str) -> Vec<&'static str> {
    let mut v: Vec<_> = summaries(r, p, metric)
        .iter()
        .map(|s| s.statistic.name())
        .collect();
    v.sort();
    v
}

#[test]
fn desktop_defaults_statistics_override_definitions() {
    // No experiment config: platform defaults only.
    let e = Experiment::dummy("no-config", "firefox_desktop", start());
    let r = resolve_experiment(&e, None, configs()).expect("resolve");
    // defaults/firefox_desktop.toml gives active_hours linear_model_mean (with covariate) and
    // deciles; its statistics replace jetstream/definitions' bootstrap_mean.
    assert_eq!(
        stat_names(&r, AnalysisPeriod::Week, "active_hours"),
        ["deciles", "linear_model_mean"]
    );
    let lm = summaries(&r, AnalysisPeriod::Week, "active_hours")
        .into_iter()
        .find(|s| s.statistic.name() == "linear_model_mean")
        .expect("lm");
    assert_eq!(
        lm.statistic,
        Statistic::LinearModelMean {
            drop_highest: 0.005,
            covariate_adjustment: Some(CovariateAdjustment {
                period: AnalysisPeriod::PreenrollmentWeek,
                metric: None
            }),
            always_valid: None,
        }
    );
    // The SQL body comes from definitions/firefox_desktop.toml, rendered through agg_sum.
    assert_eq!(
        lm.metric.select_expression.as_deref(),
        Some("COALESCE(SUM(active_hours_sum), 0)")
    );
    assert_eq!(
        lm.metric.data_source.as_ref().map(|d| d.name.as_str()),
        Some("clients_daily")
    );
    // days_of_use overrides drop_highest with 0.0.
    let dou = summaries(&r, AnalysisPeriod::Overall, "days_of_use");
    assert!(dou.iter().any(|s| matches!(s.statistic, Statistic::LinearModelMean { drop_highest, .. } if drop_highest == 0.0)));
    // per_client_dau_impact with the normalize pre-treatment, and its default drop_highest 0.
    let dau = summaries(
        &r,
        AnalysisPeriod::Week,
        "client_level_daily_active_users_v2",
    );
    assert_eq!(dau.len(), 1);
    assert_eq!(
        dau[0].pre_treatments,
        vec![PreTreatment::NormalizeOverAnalysisPeriod]
    );
    assert!(
        matches!(dau[0].statistic, Statistic::PerClientDauImpact { drop_highest, .. } if drop_highest == 0.0)
    );
    // preenrollment_days28 lists everything but daily_active_users_per_1000_clients_legacy.
    assert!(
        summaries(
            &r,
            AnalysisPeriod::PreenrollmentDays28,
            "daily_active_users_per_1000_clients_legacy"
        )
        .is_empty()
    );
    assert!(
        !summaries(
            &r,
            AnalysisPeriod::PreenrollmentWeek,
            "daily_active_users_per_1000_clients_legacy"
        )
        .is_empty()
    );
    // desktop metrics default to both analysis units.
    assert_eq!(lm.metric.analysis_units.len(), 2);
}

#[test]
fn triple_quoted_jinja_argument_and_experiment_slug_placeholder() {
    let e = Experiment::dummy("no-config", "firefox_desktop", start());
    let r = resolve_experiment(&e, None, configs()).expect("resolve");
    let unenroll = summaries(&r, AnalysisPeriod::Day, "unenroll");
    assert_eq!(unenroll.len(), 1);
    assert_eq!(unenroll[0].statistic.name(), "binomial");
    let sql = unenroll[0]
        .metric
        .select_expression
        .as_deref()
        .expect("sql");
    assert!(sql.starts_with("COALESCE(LOGICAL_OR(\n"), "{sql}");
    assert!(!sql.contains("\"\"\""), "{sql}");
    // `{experiment_slug}` is left for the str.format layer of SQL generation.
    assert!(
        sql.contains("event_string_value = '{experiment_slug}'"),
        "{sql}"
    );
    let filled = unenroll[0]
        .metric
        .select_expression_for("my-slug")
        .expect("sql")
        .expect("format");
    assert!(
        filled.contains("event_string_value = 'my-slug'"),
        "{filled}"
    );
}

#[test]
fn experiment_outcomes_land_in_weekly_and_overall_only() {
    let r = resolve(
        "win10-eos-hnt-differentiationprivacy-default-de",
        "firefox_desktop",
    );
    let backup = configs()
        .spec_for_outcome("firefox_backup", "firefox_desktop")
        .expect("outcome");
    let (name, _) = backup.metrics.first().expect("metric");
    assert!(
        !summaries(&r, AnalysisPeriod::Week, name).is_empty(),
        "{name} weekly"
    );
    assert!(
        !summaries(&r, AnalysisPeriod::Overall, name).is_empty(),
        "{name} overall"
    );
    assert!(
        summaries(&r, AnalysisPeriod::Day, name).is_empty(),
        "{name} not daily"
    );
}

#[test]
fn exposure_signal_is_resolved_with_its_data_source() {
    let r = resolve("1-click-set-to-default-existing-users", "firefox_desktop");
    let es = r
        .experiment
        .exposure_signal
        .as_ref()
        .expect("exposure signal");
    assert_eq!(es.name, "spotlight_exposure");
    assert_eq!(es.window_start, Some(WindowLimit::Days(0)));
    assert_eq!(es.window_end, Some(WindowLimit::Days(7)));
    assert_eq!(es.data_source.name, "spotlight_impressions");
    assert_eq!(
        es.data_source.experiments_column_type,
        Some(ExperimentsColumnType::Glean)
    );
    assert!(es.select_expression.contains("FOX_DOODLE_SET_DEFAULT"));
    let _ = AnalysisWindow::AnalysisWindowEnd;
}

#[test]
fn custom_enrollment_query_is_rendered_with_experiment_variables() {
    let slug = "backgroundtaskmessage-notification-release-4pct-en";
    let r = resolve(slug, "firefox_desktop");
    let q = r
        .experiment
        .enrollment_query
        .as_deref()
        .expect("enrollment query");
    assert!(!q.contains("{{"), "rendered: {q}");
    assert!(q.contains(slug), "slug substituted");
    // Config dates override Experimenter's; the config's end date makes it Complete.
    assert_eq!(
        r.experiment.start_date(),
        NaiveDate::from_ymd_opt(2023, 5, 23)
    );
    assert_eq!(r.experiment.end_date(), NaiveDate::from_ymd_opt(2023, 6, 8));
    assert_eq!(r.experiment.status(), Some("Complete"));
    assert_eq!(r.experiment.enrollment_period(), 9);
    assert_eq!(r.experiment.reference_branch(), Some("control"));
}

#[test]
fn guid_braces_stay_literal_until_str_format() {
    let r = resolve("churn-risk-os-notification", "firefox_desktop");
    let ds = r
        .metrics
        .values()
        .flatten()
        .filter_map(|s| s.metric.data_source.as_ref())
        .find(|d| d.name == "search_and_addons_daily")
        .expect("data source used by a metric");
    assert!(
        ds.from_expression
            .contains("'{{d10d0bf8-f5b5-c8b4-a8b2-2b9879e08c5d}}'")
    );
    let from = ds.from_expr_for(None).expect("format");
    assert!(from.contains("'{d10d0bf8-f5b5-c8b4-a8b2-2b9879e08c5d}'"));
}

#[test]
fn depends_on_ratio_metric() {
    let r = resolve("adaptive-autofill-revamp", "firefox_desktop");
    let ctr: Vec<_> = r
        .metrics
        .values()
        .flatten()
        .filter(|s| s.metric.name == "autofill_ctr")
        .collect();
    assert!(!ctr.is_empty());
    let m = &ctr[0].metric;
    assert!(m.data_source.is_none() && m.select_expression.is_none());
    let deps: Vec<&str> = m
        .depends_on
        .as_ref()
        .expect("deps")
        .iter()
        .map(|d| d.name.as_str())
        .collect();
    assert_eq!(deps, ["autofill_clicks", "autofill_impressions"]);
    assert!(matches!(
        &ctr[0].statistic,
        Statistic::PopulationRatio { numerator, denominator, drop_highest, num_samples, .. }
            if numerator == "autofill_clicks" && denominator == "autofill_impressions" && *drop_highest == 0.005 && *num_samples == 10_000
    ));
}

#[test]
fn segments_from_config_and_definitions_render_dates() {
    let r = resolve("addons-productivity-extensions-promo", "firefox_desktop");
    let names: Vec<&str> = r
        .experiment
        .segments
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    assert!(names.contains(&"activity_infrequent"), "{names:?}");
    for s in &r.experiment.segments {
        assert!(!s.data_source.from_expression.contains("{{"), "{}", s.name);
        assert!(!s.select_expression.contains("{{"), "{}", s.name);
    }
}

#[test]
fn distinct_by_branch_parameters_become_case_expressions() {
    let mut e = Experiment::dummy("spotlight-test", "firefox_desktop", start());
    e.outcomes = vec!["spotlight_engagement".into()];
    let r = resolve_experiment(&e, None, configs()).expect("resolve");
    let imp = summaries(&r, AnalysisPeriod::Week, "spotlight_impressions");
    assert_eq!(imp.len(), 1);
    assert_eq!(
        imp[0].metric.select_expression.as_deref(),
        Some(
            "COUNTIF(event = 'IMPRESSION' AND message_id = 'CASE e.branch WHEN \"test-branch\" THEN \"test-message-id\" END')"
        )
    );
    // outcome metrics are weekly and overall only
    assert!(summaries(&r, AnalysisPeriod::Day, "spotlight_impressions").is_empty());
    assert!(!summaries(&r, AnalysisPeriod::Overall, "spotlight_impressions").is_empty());
}

#[test]
fn metric_names_keep_their_case_and_sample_size_accepts_floats() {
    let r = resolve(
        "persist-search-term-staged-rollout-phase-1",
        "firefox_desktop",
    );
    assert!(
        r.metrics
            .values()
            .flatten()
            .any(|s| s.metric.name == "showSearchTerms_user_pref")
    );
    let r = resolve(
        "message-experiment-new-tab-mobile-qr-code",
        "firefox_desktop",
    );
    assert_eq!(r.experiment.sample_size(), Some(3));
}

#[test]
fn analysis_bases_default_and_override() {
    let r = resolve("1-click-set-to-default-existing-users", "firefox_desktop");
    for s in r.metrics.values().flatten() {
        assert!(!s.metric.analysis_bases.is_empty());
    }
    let e = Experiment::dummy("no-config", "fenix", start());
    let r = resolve_experiment(&e, None, configs()).expect("fenix defaults");
    let any = r.metrics.values().flatten().next().expect("a summary");
    assert_eq!(
        any.metric.analysis_bases,
        [AnalysisBasis::Enrollments, AnalysisBasis::Exposures]
    );
    // non-desktop metrics default to client_id only
    assert_eq!(any.metric.analysis_units.len(), 1);
}

#[test]
fn experiment_config_statistics_override_defaults_and_lists_concatenate() {
    let text = r#"
[metrics]
weekly = ["active_hours", "my_metric"]
[metrics.active_hours.statistics.bootstrap_mean]
drop_highest = 0.01
[metrics.my_metric]
select_expression = "COUNT(*)"
data_source = "clients_daily"
statistics = { sum = {}, count = {} }
"#;
    let report = jetstream_config::collection::parse_file(
        text,
        jetstream_config::collection::FileKind::Experiment { slug: "t".into() },
        std::path::Path::new("jetstream/t.toml"),
    );
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let Some(jetstream_config::collection::ParsedFile::Experiment(Some(spec))) = report.parsed
    else {
        panic!("not an experiment config")
    };
    let e = Experiment::dummy("t", "firefox_desktop", start());
    let r = resolve_experiment(&e, Some(&spec), configs()).expect("resolve");
    // the experiment config's statistics table replaces the default's whole table
    assert_eq!(
        stat_names(&r, AnalysisPeriod::Week, "active_hours"),
        ["bootstrap_mean"]
    );
    assert_eq!(
        stat_names(&r, AnalysisPeriod::Week, "my_metric"),
        ["count", "sum"]
    );
    // defaults' weekly metrics are still there
    assert!(!summaries(&r, AnalysisPeriod::Week, "uri_count").is_empty());
    // but for overall (not overridden) active_hours keeps the defaults' statistics... which are
    // replaced too: the definition is shared by name across periods.
    assert_eq!(
        stat_names(&r, AnalysisPeriod::Overall, "active_hours"),
        ["bootstrap_mean"]
    );
    let _ = resolve_spec(AnalysisSpec::default(), &e, configs()).expect("empty spec resolves");
}
