//! Every SQL snippet of the real metric-hub configs (metric and segment select expressions,
//! data-source and segment data-source FROM expressions, exposure signals, custom enrollment
//! queries) rendered, translated to DuckDB and parsed by DuckDB itself
//! (`json_serialize_sql`). Also the complete generated queries of the desktop and fenix defaults.

use std::collections::BTreeMap;
use std::path::Path;

use crate::common::{configs, d};
use jetstream_config::collection::FileKind;
use jetstream_config::enums::{AnalysisBasis, AnalysisPeriod};
use jetstream_config::experiment::Experiment;
use jetstream_config::platform::{PLATFORMS, app_dataset};
use jetstream_config::resolve::{
    AnalysisConfiguration, DataSource, default_spec_for, merge_outcome, resolve_experiment,
    resolve_spec,
};
use jetstream_config::validate::{ValidateOptions, validate_file};
use jetstream_duckdb::translate::translate;
use jetstream_sql::query::{QueryContext, enrollments_query, escape_in_literal, metrics_query};
use jetstream_sql::readiness::timelimits_if_ready;

/// `(kind, origin) -> SQL statement in BigQuery dialect`, de-duplicated by SQL text.
#[derive(Default)]
struct Snippets {
    by_sql: BTreeMap<String, String>,
}

impl Snippets {
    fn add(&mut self, origin: String, sql: String) {
        self.by_sql.entry(sql).or_insert(origin);
    }

    fn add_data_source(&mut self, ds: &DataSource, dataset: Option<&str>, origin: &str) {
        match ds.from_expr_for(dataset) {
            Ok(from) => self.add(
                format!("{origin}: data source {}", ds.name),
                format!("SELECT * FROM {from} AS ds"),
            ),
            Err(e) => panic!("{origin}: data source {}: {e}", ds.name),
        }
    }

    fn add_resolved(&mut self, r: &AnalysisConfiguration, origin: &str) {
        let slug = escape_in_literal(r.experiment.normandy_slug());
        let dataset = r.experiment.app_id().map(|a| app_dataset(&a));
        for summaries in r.metrics.values() {
            for s in summaries {
                let m = &s.metric;
                if let Some(expr) = &m.select_expression {
                    let expr = jetstream_config::template::python_format(
                        expr,
                        &[("experiment_slug", &slug)],
                    )
                    .unwrap_or_else(|e| panic!("{origin}: metric {}: {e}", m.name));
                    self.add(
                        format!("{origin}: metric {}", m.name),
                        format!("SELECT {expr} AS m FROM t AS ds"),
                    );
                }
                if let Some(ds) = &m.data_source {
                    self.add_data_source(ds, dataset.as_deref(), origin);
                }
            }
        }
        for seg in &r.experiment.segments {
            self.add(
                format!("{origin}: segment {}", seg.name),
                format!("SELECT {} AS s FROM t AS ds", seg.select_expression),
            );
            self.add(
                format!("{origin}: segment data source {}", seg.data_source.name),
                format!(
                    "SELECT * FROM {} AS ds",
                    seg.data_source
                        .from_expression
                        .replace("{dataset}", dataset.as_deref().unwrap_or("x"))
                ),
            );
        }
        if let Some(es) = &r.experiment.exposure_signal {
            self.add(
                format!("{origin}: exposure signal {}", es.name),
                format!("SELECT * FROM t WHERE {}", es.select_expression),
            );
            self.add_data_source(&es.data_source, None, origin);
        }
        if let Some(q) = &r.experiment.enrollment_query {
            self.add(format!("{origin}: enrollment_query"), q.clone());
        }
    }
}

fn duckdb_parses(conn: &duckdb::Connection, sql: &str) -> Result<(), String> {
    let json: String = conn
        .query_row("SELECT json_serialize_sql(?)", [sql], |row| row.get(0))
        .map_err(|e| e.to_string())?;
    let v: serde_json::Value = serde_json::from_str(&json).map_err(|e| e.to_string())?;
    if v["error"].as_bool() == Some(true) {
        Err(v["error_message"].as_str().unwrap_or("error").to_string())
    } else {
        Ok(())
    }
}

fn dummy(slug: &str, app: &str) -> Experiment {
    let mut e = Experiment::dummy(slug, app, d("2026-01-05"));
    e.enrollment_end_date = Some(d("2026-01-11"));
    e.end_date = Some(d("2026-02-09"));
    e.status = Some("Complete".into());
    e
}

fn collect() -> (Snippets, Snippets) {
    let mut all = Snippets::default();
    let mut defaults = Snippets::default();
    let configs = configs();
    // platform defaults (and everything they pull from the definitions)
    for p in PLATFORMS {
        let e = dummy("defaults", p.app_name);
        let r = resolve_experiment(&e, None, configs)
            .unwrap_or_else(|err| panic!("{}: {err}", p.app_name));
        all.add_resolved(&r, &format!("defaults/{}", p.app_name));
        if p.app_name == "firefox_desktop" || p.app_name == "fenix" {
            defaults.add_resolved(&r, &format!("defaults/{}", p.app_name));
        }
    }
    // outcomes
    for o in &configs.outcomes {
        let e = dummy("outcome", &o.platform);
        let mut spec = default_spec_for(&e, configs);
        merge_outcome(&mut spec, &o.spec).expect("merge outcome");
        let r = resolve_spec(spec, &e, configs)
            .unwrap_or_else(|err| panic!("outcome {}: {err}", o.slug));
        all.add_resolved(&r, &format!("outcomes/{}/{}", o.platform, o.slug));
    }
    // experiment configs, for the platform they resolve for
    let opts = ValidateOptions {
        platform: None,
        start_date: d("2026-01-05"),
    };
    for (slug, spec) in &configs.configs {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(format!("../../fixtures/metric-hub/jetstream/{slug}.toml"));
        let v = validate_file(&path, configs, &opts);
        if !v.is_valid() || !matches!(v.kind, FileKind::Experiment { .. }) {
            continue; // stale configs; reported by the config crate's tests
        }
        let app = v
            .note
            .split("platform ")
            .nth(1)
            .and_then(|s| s.split_whitespace().next())
            .unwrap_or("firefox_desktop");
        let mut e = dummy(slug, app);
        if let Some(outcomes) = v.note.split("assuming Experimenter outcomes ").nth(1) {
            e.outcomes = outcomes.split(", ").map(str::to_string).collect();
        }
        let r = resolve_experiment(&e, Some(spec), configs)
            .unwrap_or_else(|err| panic!("{slug}: {err}"));
        all.add_resolved(&r, &format!("jetstream/{slug}"));
    }
    // every definition of every platform, used or not
    for (platform, defs) in &configs.definitions {
        let dataset = jetstream_config::platform::platform(platform).map(|p| app_dataset(p.app_id));
        for (name, m) in &defs.metrics.definitions {
            if let Some(expr) = &m.select_expression
                && !expr.contains("parameters")
                && let Ok(sql) = configs.jinja().render(expr, &BTreeMap::new())
            {
                let sql =
                    jetstream_config::template::python_format(&sql, &[("experiment_slug", "slug")])
                        .unwrap_or(sql);
                all.add(
                    format!("definitions/{platform}: metric {name}"),
                    format!("SELECT {sql} AS m FROM t AS ds"),
                );
            }
        }
        for (name, ds) in &defs.data_sources.definitions {
            if let Some(from) = &ds.from_expression
                && !from.contains("{{")
            {
                let args: Vec<(&str, &str)> = dataset
                    .as_deref()
                    .or(ds.default_dataset.as_deref())
                    .map(|d| vec![("dataset", d)])
                    .unwrap_or_default();
                if let Ok(f) = jetstream_config::template::python_format(from, &args) {
                    all.add(
                        format!("definitions/{platform}: data source {name}"),
                        format!("SELECT * FROM {f} AS ds"),
                    );
                }
            }
        }
    }
    (all, defaults)
}

fn check(
    label: &str,
    snippets: &Snippets,
    conn: &duckdb::Connection,
) -> (usize, usize, usize, Vec<String>) {
    let (mut translated, mut parsed) = (0, 0);
    let mut failures = Vec::new();
    for (sql, origin) in &snippets.by_sql {
        match translate(sql) {
            Ok(duck) => {
                translated += 1;
                match duckdb_parses(conn, &duck) {
                    Ok(()) => parsed += 1,
                    Err(e) => failures.push(format!("{origin}: DuckDB: {e}")),
                }
            }
            Err(e) => failures.push(format!("{origin}: {e}")),
        }
    }
    #[allow(clippy::print_stderr)] // the coverage report is the point of this test
    {
        eprintln!(
            "{label}: {} snippets, {translated} translated, {parsed} parsed by DuckDB, {} failed",
            snippets.by_sql.len(),
            failures.len()
        );
        for f in &failures {
            eprintln!("  {f}");
        }
    }
    (snippets.by_sql.len(), translated, parsed, failures)
}

#[test]
fn real_definitions_translate_and_parse_in_duckdb() {
    let conn = duckdb::Connection::open_in_memory().expect("duckdb");
    let (all, defaults) = collect();
    let (n, _, parsed, _) = check("all metric-hub snippets", &all, &conn);
    assert!(n > 500, "only {n} snippets collected");
    let ratio = parsed as f64 / n as f64;
    assert!(ratio >= 0.98, "only {:.1}% parse in DuckDB", 100.0 * ratio);
    let (n, _, parsed, failures) = check("firefox_desktop and fenix defaults", &defaults, &conn);
    assert_eq!(parsed, n, "defaults must all parse: {failures:?}");
}

#[test]
fn generated_queries_parse_in_duckdb() {
    let conn = duckdb::Connection::open_in_memory().expect("duckdb");
    for app in ["firefox_desktop", "fenix"] {
        let e = dummy("my-experiment", app);
        let r = resolve_experiment(&e, None, configs()).expect("resolve");
        let ctx = QueryContext::for_experiment(&r.experiment).expect("context");
        let day = timelimits_if_ready(AnalysisPeriod::Day, d("2026-01-12"), &r.experiment)
            .expect("ready")
            .expect("day");
        let q = enrollments_query(&ctx, &day.time_limits, None, None, &r.experiment.segments)
            .expect("enrollments");
        let duck = translate(&q).expect("translate enrollments");
        duckdb_parses(&conn, &duck).unwrap_or_else(|e| panic!("{app} enrollments: {e}\n{duck}"));
        for period in [AnalysisPeriod::Day, AnalysisPeriod::Week] {
            let date = if period == AnalysisPeriod::Day {
                "2026-01-12"
            } else {
                "2026-01-18"
            };
            let ready = timelimits_if_ready(period, d(date), &r.experiment)
                .expect("ready")
                .expect("window");
            let metrics: Vec<_> = r.metrics[&period]
                .iter()
                .map(|s| s.metric.as_ref())
                .filter(|m| m.select_expression.is_some())
                .collect();
            let mut uniq = Vec::new();
            for m in metrics {
                if !uniq
                    .iter()
                    .any(|x: &&jetstream_config::resolve::Metric| x.name == m.name)
                {
                    uniq.push(m);
                }
            }
            let q = metrics_query(
                &ctx,
                &uniq,
                &ready.time_limits,
                "p.d.enrollments_my_experiment",
                AnalysisBasis::Enrollments,
                None,
                false,
            )
            .expect("metrics");
            let duck = translate(&q).expect("translate metrics");
            duckdb_parses(&conn, &duck)
                .unwrap_or_else(|e| panic!("{app} {period} metrics: {e}\n{duck}"));
        }
    }
}
