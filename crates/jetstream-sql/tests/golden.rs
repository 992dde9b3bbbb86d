//! Generated BigQuery SQL of representative real configs, compared with reviewed golden files
//! (`tests/golden/*.sql`, compared by expect-test; regenerate with `UPDATE_EXPECT=1`), and parsed by sqlparser's
//! BigQuery dialect.

use std::path::Path;

use crate::common::{configs, d};
use jetstream_config::enums::{AnalysisBasis, AnalysisPeriod};
use jetstream_config::experiment::Experiment;
use jetstream_config::resolve::{AnalysisConfiguration, Metric, resolve_experiment};
use jetstream_sql::naming;
use jetstream_sql::query::{
    QueryContext, covariate_subset_query, enrollments_query, metrics_query, subset_query,
};
use jetstream_sql::readiness::timelimits_if_ready;
use sqlparser::dialect::BigQueryDialect;
use sqlparser::parser::Parser;

fn resolve(slug: &str, app: &str, outcomes: &[&str]) -> AnalysisConfiguration {
    let mut e = Experiment::dummy(slug, app, d("2026-01-05"));
    e.enrollment_end_date = Some(d("2026-01-11"));
    e.end_date = Some(d("2026-02-09"));
    e.status = Some("Complete".into());
    e.outcomes = outcomes.iter().map(|s| s.to_string()).collect();
    resolve_experiment(&e, configs().spec_for_experiment(slug), configs())
        .unwrap_or_else(|err| panic!("{slug}: {err}"))
}

fn golden(name: &str, sql: &str) {
    // expect-test: a difference (a missing file reads as empty) fails with a diff; only an
    // explicit UPDATE_EXPECT=1 writes the file.
    expect_test::expect_file![format!("golden/{name}.sql")].assert_eq(sql);
    parse_bigquery(name, sql);
}

fn parse_bigquery(name: &str, sql: &str) {
    if let Err(e) = Parser::parse_sql(&BigQueryDialect {}, sql) {
        let numbered: Vec<String> = sql
            .lines()
            .enumerate()
            .map(|(i, l)| format!("{:>4} {l}", i + 1))
            .collect();
        panic!(
            "{name}: sqlparser (BigQuery) rejects the SQL: {e}\n{}",
            numbered.join("\n")
        );
    }
}

fn period_metrics(
    r: &AnalysisConfiguration,
    p: AnalysisPeriod,
    basis: AnalysisBasis,
) -> Vec<&Metric> {
    let mut out: Vec<&Metric> = Vec::new();
    for s in &r.metrics[&p] {
        if s.metric.select_expression.is_some()
            && s.metric.analysis_bases.contains(&basis)
            && !out.iter().any(|m| m.name == s.metric.name)
        {
            out.push(&s.metric);
        }
    }
    out
}

fn queries_for(
    name: &str,
    slug: &str,
    app: &str,
    outcomes: &[&str],
    date: &str,
    period: AnalysisPeriod,
    basis: AnalysisBasis,
) {
    let r = resolve(slug, app, outcomes);
    let ctx = QueryContext::for_experiment(&r.experiment).expect("context");
    let day = timelimits_if_ready(AnalysisPeriod::Day, d(date), &r.experiment)
        .expect("ready")
        .expect("day window");
    let enroll = enrollments_query(
        &ctx,
        &day.time_limits,
        r.experiment.enrollment_query.as_deref(),
        r.experiment.exposure_signal.as_ref(),
        &r.experiment.segments,
    )
    .expect("enrollments");
    golden(&format!("{name}_enrollments"), &enroll);
    let ready = timelimits_if_ready(period, d(date), &r.experiment)
        .expect("ready")
        .expect("window");
    let metrics = period_metrics(&r, period, basis);
    let table = format!("project.dataset.{}", naming::enrollments_table(slug));
    let q = metrics_query(
        &ctx,
        &metrics,
        &ready.time_limits,
        &table,
        basis,
        r.experiment.exposure_signal.as_ref(),
        false,
    )
    .expect("metrics");
    golden(
        &format!("{name}_metrics_{}_{}", period.as_str(), basis.as_str()),
        &q,
    );
}

#[test]
fn desktop_defaults_weekly() {
    // normandy enrollments, clients_daily & co., sanity metrics, day-0 filters
    queries_for(
        "desktop_defaults",
        "no-config-desktop",
        "firefox_desktop",
        &[],
        "2026-01-18",
        AnalysisPeriod::Week,
        AnalysisBasis::Enrollments,
    );
}

#[test]
fn fenix_defaults_overall() {
    // glean-event enrollments from events_stream, the app's dataset
    queries_for(
        "fenix_defaults",
        "no-config-fenix",
        "fenix",
        &[],
        "2026-02-09",
        AnalysisPeriod::Overall,
        AnalysisBasis::Enrollments,
    );
}

#[test]
fn exposure_signal_and_segments() {
    queries_for(
        "exposure_signal",
        "1-click-set-to-default-existing-users",
        "firefox_desktop",
        &[],
        "2026-01-18",
        AnalysisPeriod::Week,
        AnalysisBasis::Exposures,
    );
}

#[test]
fn custom_enrollment_query_and_segments() {
    queries_for(
        "custom_enrollments",
        "backgroundtaskmessage-notification-release-4pct-en",
        "firefox_desktop",
        &[],
        "2023-06-07",
        AnalysisPeriod::Week,
        AnalysisBasis::Enrollments,
    );
}

#[test]
fn subset_queries() {
    let q = subset_query(
        "test_experiment_enrollments_1",
        "metric_name",
        "all",
        AnalysisBasis::Enrollments,
    )
    .expect("subset");
    assert_eq!(
        q,
        "SELECT branch, metric_name\nFROM `test_experiment_enrollments_1` m\nWHERE metric_name IS NOT NULL AND\nenrollment_date IS NOT NULL"
    );
    let q = subset_query("t", "m", "regular_users", AnalysisBasis::Exposures).expect("subset");
    assert!(q.ends_with("enrollment_date IS NOT NULL AND m.exposure_date IS NOT NULL\nAND m.regular_users = TRUE"), "{q}");
    parse_bigquery("subset", &q);
    let q = covariate_subset_query(
        "during",
        "pre",
        "active_hours",
        "active_hours",
        "all",
        AnalysisBasis::Enrollments,
    )
    .expect("covariate");
    assert!(q.contains("pre.active_hours AS active_hours_pre"));
    parse_bigquery("covariate", &q);
}

#[test]
fn hostile_slugs_cannot_change_a_query() {
    let mut e = Experiment::dummy(
        "x'; DROP TABLE users; --`",
        "firefox_desktop",
        d("2026-01-05"),
    );
    e.enrollment_end_date = Some(d("2026-01-11"));
    let r = resolve_experiment(&e, None, configs()).expect("resolve");
    let ctx = QueryContext::for_experiment(&r.experiment).expect("context");
    let day = timelimits_if_ready(AnalysisPeriod::Day, d("2026-01-12"), &r.experiment)
        .expect("ready")
        .expect("day");
    let q = enrollments_query(&ctx, &day.time_limits, None, None, &[]).expect("enrollments");
    // The slug is a single escaped literal; the statement is still one SELECT.
    assert!(q.contains(r"'x\'; DROP TABLE users; --`'"), "{q}");
    let statements = Parser::parse_sql(&BigQueryDialect {}, &q).expect("parses");
    assert_eq!(statements.len(), 1);
    let metrics = period_metrics(&r, AnalysisPeriod::Day, AnalysisBasis::Enrollments);
    let table = format!("p.d.{}", naming::enrollments_table(&ctx.slug));
    let q = metrics_query(
        &ctx,
        &metrics,
        &day.time_limits,
        &table,
        AnalysisBasis::Enrollments,
        None,
        false,
    )
    .expect("metrics");
    parse_bigquery("hostile metrics", &q);
    assert_eq!(
        Parser::parse_sql(&BigQueryDialect {}, &q)
            .expect("parses")
            .len(),
        1
    );
    assert!(
        table.starts_with("p.d.enrollments_x___DROP_TABLE_users_____"),
        "{table}"
    );
    // Identifiers that are not plain are refused instead of spliced.
    assert!(subset_query("t", "m; DROP", "all", AnalysisBasis::Enrollments).is_err());
    assert!(subset_query("t`x", "m", "all", AnalysisBasis::Enrollments).is_err());
}

/// The real metric-hub templates that splice `{{experiment.*}}` into SQL, rendered for a
/// benign and a hostile experiment: the token structure of every rendered query is the same;
/// the hostile values stay inside their literals.
#[test]
fn hostile_values_cannot_change_the_sql_of_real_templates() {
    use sqlparser::tokenizer::{Token, Tokenizer};
    let hostile = "a'; DROP TABLE x; --`\"\nb\\";
    let rendered = |slug: &str, config: &str| -> Option<Vec<String>> {
        let mut e = Experiment::dummy(slug, "firefox_desktop", d("2026-01-05"));
        e.enrollment_end_date = Some(d("2026-01-11"));
        e.reference_branch = Some(format!("{slug}-control"));
        let spec = configs().spec_for_experiment(config)?;
        let platforms = [
            "firefox_desktop",
            "fenix",
            "firefox_ios",
            "focus_android",
            "klar_android",
        ];
        let r = platforms.iter().find_map(|app| {
            e.app_name = app.to_string();
            e.app_id = jetstream_config::platform::platform(app).map(|p| p.app_id.to_string());
            resolve_experiment(&e, Some(spec), configs()).ok()
        })?;
        let mut sql: Vec<String> = r.experiment.enrollment_query.iter().cloned().collect();
        for s in r.metrics.values().flatten() {
            if let Some(ds) = &s.metric.data_source {
                sql.push(ds.from_expression.clone());
            }
        }
        sql.sort();
        sql.dedup();
        Some(sql)
    };
    let tokens = |sql: &str| {
        Tokenizer::new(&BigQueryDialect {}, sql)
            .tokenize()
            .unwrap_or_else(|e| panic!("{e}: {sql}"))
            .into_iter()
            .filter(|t| !matches!(t, Token::Whitespace(_)))
            .collect::<Vec<_>>()
    };
    let mut checked = 0;
    for slug in configs().configs.keys() {
        let raw = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join(format!("../../fixtures/metric-hub/jetstream/{slug}.toml")),
        )
        .unwrap_or_default();
        if !raw.contains("{{experiment.") && !raw.contains("{{ experiment.") {
            continue;
        }
        let (Some(benign), Some(bad)) = (rendered("benign-slug", slug), rendered(hostile, slug))
        else {
            continue; // a stale config that does not resolve (reported by the config tests)
        };
        assert_eq!(benign.len(), bad.len(), "{slug}");
        for (b, h) in benign.iter().zip(&bad) {
            if b == h {
                continue; // the template does not use the experiment
            }
            assert!(
                h.contains("DROP TABLE x"),
                "{slug}: the value is in the SQL: {h}"
            );
            let (tb, th) = (tokens(b), tokens(h));
            assert_eq!(
                tb.len(),
                th.len(),
                "{slug}: the hostile slug changed the SQL:\n{h}"
            );
            for (x, y) in tb.iter().zip(&th) {
                match (x, y) {
                    (Token::SingleQuotedString(_), Token::SingleQuotedString(_))
                    | (Token::DoubleQuotedString(_), Token::DoubleQuotedString(_)) => {}
                    _ => assert_eq!(x, y, "{slug}: the hostile slug changed the SQL:\n{h}"),
                }
            }
            let statements =
                Parser::parse_sql(&BigQueryDialect {}, &format!("SELECT * FROM ({h})"))
                    .map(|s| s.len())
                    .unwrap_or(1);
            assert_eq!(statements, 1, "{slug}");
            checked += 1;
        }
    }
    assert!(
        checked >= 10,
        "only {checked} templated queries were checked"
    );
}

#[test]
fn a_missing_golden_file_fails_and_is_not_written() {
    if std::env::var_os("UPDATE_EXPECT").is_some() {
        return; // regenerating on purpose: this check does not apply
    }
    let name = format!("missing_on_purpose_{}", std::process::id());
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(format!("{name}.sql"));
    let outcome = std::panic::catch_unwind(|| golden(&name, "SELECT 1"));
    assert!(outcome.is_err(), "a missing golden file must fail the test");
    assert!(!path.exists(), "and must not be written");
}
