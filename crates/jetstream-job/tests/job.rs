//! The daily job over the embedded warehouse and simulated telemetry: the daily run, reruns,
//! config repositories in order, private experiments.

use std::path::Path;
use std::sync::Mutex;

use chrono::NaiveDate;
use jetstream_job::{
    ConfigRepoSources, ConfigSource as _, Event, ExperimentSource as _, Job, JobOptions,
    LocalFolder, Observer, Outcome, Progress, TableName, Warehouse as _, WarehouseSpec,
};

pub(crate) fn d(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date")
}

/// A scratch folder (removed when dropped) with an empty `jetstream/` config folder.
pub(crate) fn scratch(name: &str) -> jetstream_test_support::Scratch {
    let dir = jetstream_test_support::scratch(name);
    std::fs::create_dir_all(dir.join("jetstream")).expect("mkdir");
    dir
}

/// Simulated telemetry in an in-memory warehouse; the recipes and a metric-hub folder with the
/// simulated experiments' configs (each passed through `edit`).
pub(crate) fn simulated(
    dir: &Path,
    edit: impl Fn(&str, String) -> String,
) -> (jetstream_duckdb::DuckDbWarehouse, jetstream_job::Parsed) {
    let wh = WarehouseSpec::new("duckdb::memory:")
        .open_duckdb()
        .expect("warehouse");
    let report = jetstream_simulate::simulate(
        &wh,
        &jetstream_simulate::SimOptions {
            clients: 300,
            start: d("2026-01-01"),
            days: 28,
            seed: 3,
            effects: Default::default(),
        },
    )
    .expect("simulate");
    wh.mirror_catalog("moz-fx-data-shared-prod", "mozdata")
        .expect("mirror");
    for (slug, toml) in jetstream_simulate::configs() {
        let text = edit(&slug, toml);
        std::fs::write(dir.join(format!("jetstream/{slug}.toml")), text).expect("config");
    }
    let recipes = serde_json::to_string(&jetstream_simulate::recipes(&report)).expect("json");
    let parsed = jetstream_job::parse_recipes(&recipes, d("2026-11-30")).expect("recipes");
    let experiments: Vec<_> = parsed;
    let parsed = experiments
        .experiments(&[], d("2026-11-30"))
        .expect("source");
    (wh, parsed)
}

/// The configs of a metric-hub folder.
pub(crate) fn hub(dir: &Path) -> jetstream_job::ConfigCollection {
    ConfigRepoSources::folders(&[dir])
        .configs()
        .expect("configs")
}

/// Remembers the events' kinds.
#[derive(Default)]
struct Events(Mutex<Vec<String>>);

impl Progress for Events {}
impl Observer for Events {
    fn event(&self, event: &Event<'_>) {
        let line = match event {
            Event::Analysed(r) => format!("analysed {} {}", r.slug, r.date),
            Event::Skipped { slug, .. } => format!("skipped {slug}"),
            Event::Failed { slug, message, .. } => format!("failed {slug}: {message}"),
            Event::Deleted { slug, count } => format!("deleted {slug} {count}"),
            Event::Exported { location, .. } => format!("exported {location}"),
            other => format!("{other:?}"),
        };
        self.0.lock().expect("lock").push(line);
    }
}

#[test]
fn the_daily_run_analyses_every_experiment_of_the_date_and_exports() {
    let dir = scratch("daily");
    let (wh, parsed) = simulated(&dir, |_, t| t);
    let configs = hub(&dir);
    let sink = LocalFolder::new(dir.join("out"));
    let job = Job::new(&wh, configs, JobOptions::default())
        .expect("job")
        .with_sink(&sink);
    let events = Events::default();
    let report = job.run_daily(&parsed, d("2026-01-28"), &[], &events);
    assert!(report.success(), "{report:?} {:?}", events.0.lock());
    assert_eq!(report.analyses, 3);
    assert_eq!(report.tables, 3);
    assert_eq!(
        report.experiments.values().copied().collect::<Vec<_>>(),
        [Outcome::Ok; 3]
    );
    assert!(
        dir.join("out/statistics/statistics_jetstream_sim_two_branches_overall.json")
            .is_file()
    );
    assert!(
        dir.join("out/metadata/metadata_jetstream_sim_fenix.json")
            .is_file()
    );
    // A date before every experiment: nothing is analysed, nothing fails.
    let report = job.run_daily(&parsed, d("2025-06-01"), &[], &events);
    assert_eq!((report.analyses, report.failures), (0, 0));
    // An unknown slug is a failure of that slug only.
    let report = job.run_daily(&parsed, d("2026-01-28"), &["nope".into()], &events);
    assert_eq!(report.experiments.get("nope"), Some(&Outcome::Failed));
}

#[test]
fn a_rerun_deletes_then_analyses_every_date_of_the_reference_rule() {
    let dir = scratch("rerun");
    let (wh, parsed) = simulated(&dir, |_, t| t);
    let configs = hub(&dir);
    let job = Job::new(&wh, configs, JobOptions::default()).expect("job");
    let slug = "jetstream-sim-two-branches".to_string();
    let events = Events::default();
    let report = job.rerun(
        &parsed,
        std::slice::from_ref(&slug),
        d("2026-11-30"),
        &events,
    );
    // 2026-01-08 .. 2026-01-28 analysed; the day after the end is EndedException (skipped).
    assert_eq!(report.analyses, 21, "{:?}", events.0.lock());
    assert_eq!(report.skipped, 1);
    assert!(report.success());
    let config = job
        .resolve(jetstream_job::with_slug(&parsed.experiments, &slug).expect("slug"))
        .expect("config");
    let dates = Job::rerun_dates(&config, d("2026-11-30"));
    assert_eq!(
        (dates.first().copied(), dates.last().copied(), dates.len()),
        (Some(d("2026-01-08")), Some(d("2026-01-29")), 22)
    );
    assert_eq!(Job::rerun_dates(&config, d("2026-01-10")).len(), 3);
    // A second rerun deletes what the first wrote, then writes it again.
    let events = Events::default();
    let again = job.rerun(
        &parsed,
        std::slice::from_ref(&slug),
        d("2026-11-30"),
        &events,
    );
    assert_eq!(again.tables, report.tables);
    let deleted = events.0.lock().expect("lock")[0].clone();
    assert!(
        deleted.starts_with("deleted jetstream-sim-two-branches "),
        "{deleted}"
    );
}

#[test]
fn later_config_repositories_override_earlier_ones_and_private_ones_are_marked() {
    let first = scratch("repo1");
    let second = scratch("repo2");
    let private = scratch("repo3");
    let config = |metric: &str| format!("[metrics]\nweekly = [\"{metric}\"]\n");
    std::fs::write(first.join("jetstream/x.toml"), config("a")).expect("write");
    std::fs::write(first.join("jetstream/y.toml"), config("b")).expect("write");
    std::fs::write(second.join("jetstream/x.toml"), config("c")).expect("write");
    std::fs::write(
        private.join("jetstream/z.toml"),
        "[experiment]\ndataset_id = \"secret\"\n",
    )
    .expect("write");
    let configs = ConfigRepoSources {
        public: vec![first.display().to_string(), second.display().to_string()],
        private: vec![private.display().to_string()],
        ..ConfigRepoSources::default()
    }
    .configs()
    .expect("configs");
    let weekly = |slug: &str| {
        configs
            .spec_for_experiment(slug)
            .map(|s| format!("{:?}", s.metrics))
            .unwrap_or_default()
    };
    assert!(
        weekly("x").contains("\"c\"") && !weekly("x").contains("\"a\""),
        "{}",
        weekly("x")
    );
    assert!(weekly("y").contains("\"b\""));
    let z = configs.spec_for_experiment("z").expect("private config");
    assert!(z.experiment.is_private);
    assert!(
        !configs
            .spec_for_experiment("x")
            .expect("x")
            .experiment
            .is_private
    );
    // A folder that is not there is named.
    let err = ConfigRepoSources::folders(&[first.join("missing")])
        .configs()
        .expect_err("not a folder");
    assert!(err.to_string().contains("missing"), "{err}");
}

#[test]
fn a_private_experiment_writes_to_its_own_dataset_only() {
    let dir = scratch("private");
    let (wh, parsed) = simulated(&dir, |slug, t| {
        if slug == "jetstream-sim-two-branches" {
            t.replacen(
                "[experiment]",
                "[experiment]\nis_private = true\ndataset_id = \"private_results\"",
                1,
            )
        } else {
            t
        }
    });
    let configs = hub(&dir);
    let sink = LocalFolder::new(dir.join("shared-out"));
    let job = Job::new(&wh, configs, JobOptions::default())
        .expect("job")
        .with_sink(&sink);
    let slug = "jetstream-sim-two-branches".to_string();
    let events = Events::default();
    let report = job.run_daily(
        &parsed,
        d("2026-01-28"),
        std::slice::from_ref(&slug),
        &events,
    );
    assert!(report.success(), "{report:?} {:?}", events.0.lock());
    assert!(
        !dir.join("shared-out").exists(),
        "no statistics, metadata or errors file of a private experiment in the shared output"
    );
    let private = wh.list_tables("private_results", "").expect("list");
    assert!(
        private
            .iter()
            .any(|t| t.table == "statistics_jetstream_sim_two_branches_overall_1"),
        "{private:?}"
    );
    let shared = wh.list_tables("mozanalysis", "").expect("list");
    assert!(
        shared.iter().all(|t| !t.table.contains("two_branches")),
        "nothing in the shared dataset: {shared:?}"
    );
    assert!(
        wh.table_exists(
            &TableName::new("private_results", "enrollments_jetstream_sim_two_branches")
                .expect("name")
        )
        .expect("exists")
    );
}

#[test]
fn every_generated_query_is_kept_and_glean_ids_reach_the_sql() {
    let dir = scratch("sql");
    let (wh, parsed) = simulated(&dir, |_, t| t);
    let configs = hub(&dir);
    let sql = dir.join("sql");
    let mut options = JobOptions::default();
    options.run.sql_output_dir = Some(sql.clone());
    let job = Job::new(&wh, configs.clone(), options.clone()).expect("job");
    let slug = "jetstream-sim-two-branches".to_string();
    let report = job.run_daily(
        &parsed,
        d("2026-01-28"),
        std::slice::from_ref(&slug),
        &Events::default(),
    );
    assert!(report.success());
    let read = |name: &str| {
        std::fs::read_to_string(sql.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
    };
    let enrollments = read("enrollments_jetstream_sim_two_branches.sql");
    assert!(enrollments.contains("telemetry.events"), "{enrollments}");
    let metrics = read("jetstream_sim_two_branches_enrollments_sim_clients_daily_overall_1.sql");
    assert!(metrics.contains("active_hours_sum"), "{metrics}");
    assert!(
        sql.join("jetstream_sim_two_branches_exposures_sim_search_overall_1.sql")
            .is_file()
    );

    // With Glean ids the desktop enrollments come from the Glean events stream (the query is
    // kept even though this warehouse has no such table).
    options.run.use_glean_ids = true;
    options.run.recreate_enrollments = true;
    let glean = Job::new(&wh, configs, options).expect("job");
    let report = glean.ensure_enrollments(
        &parsed,
        std::slice::from_ref(&slug),
        d("2026-01-28"),
        &Events::default(),
    );
    assert_eq!(report.experiments.get(&slug), Some(&Outcome::Failed));
    let enrollments = read("enrollments_jetstream_sim_two_branches.sql");
    assert!(enrollments.contains("events_stream"), "{enrollments}");
}

/// Every table and view of a dataset with its rows (and metadata), in a canonical order.
fn snapshot(wh: &dyn jetstream_job::Warehouse, dataset: &str, skip: &str) -> Vec<String> {
    let mut out = Vec::new();
    for t in wh.list_tables(dataset, "").expect("list") {
        if t.table.contains(skip) {
            continue;
        }
        let rows = wh
            .query_columns(&format!(
                "SELECT * FROM `{}.{dataset}.{}` ORDER BY ALL",
                wh.project(),
                t.table
            ))
            .expect("read");
        out.push(format!(
            "{t} {:?} {rows:?}",
            wh.table_metadata(&t).expect("meta")
        ));
    }
    out
}

#[test]
fn a_rerun_deletes_only_its_experiments_tables_of_the_chosen_periods() {
    let wh = WarehouseSpec::new("duckdb::memory:")
        .open_duckdb()
        .expect("warehouse");
    let meta = |slug: &str| jetstream_warehouse::TableMetadata::now(slug);
    let name = |t: &str| TableName::new("mozanalysis", t).expect("name");
    // x, and experiments whose normalized slugs start with x's: every one has a week and an
    // overall window table of each kind, views, enrollments.
    for slug in ["x", "x-v2", "x-2024"] {
        let n = jetstream_sql::naming::bq_normalize_name(slug);
        for t in [
            format!("statistics_{n}_week_1"),
            format!("statistics_{n}_week_2"),
            format!("statistics_{n}_overall_1"),
            format!("statistics_{n}_preenrollment_week_1"),
            format!("{n}_enrollments_clients_daily_week_1"),
            format!("{n}_exposures_week_1"),
            format!("{n}_enrollments_events_overall_1"),
            format!("enrollments_{n}"),
        ] {
            wh.write_table(&name(&t), &format!("SELECT '{t}' AS t"), &meta(slug))
                .expect("table");
        }
        wh.publish_window_view(
            &name(&format!("statistics_{n}_weekly")),
            &format!("statistics_{n}_week"),
        )
        .expect("view");
    }
    // A table of another tool that only looks like x's.
    wh.write_table(
        &name("statistics_x_week_9"),
        "SELECT 1 AS t",
        &meta("someone-else"),
    )
    .expect("foreign");
    let others = |wh: &jetstream_duckdb::DuckDbWarehouse| {
        let mut all = snapshot(wh, "mozanalysis", "\u{0}");
        all.retain(|l| {
            !l.starts_with("mozanalysis.statistics_x_w")
                && !l.starts_with("mozanalysis.x_")
                && !l.starts_with("mozanalysis.statistics_x_o")
                && !l.starts_with("mozanalysis.statistics_x_p")
                && !l.starts_with("mozanalysis.enrollments_x ")
        });
        all
    };
    let before = others(&wh);
    assert!(before.iter().any(|l| l.contains("statistics_x_v2_week_1")));

    // Only the week period of x.
    let n = jetstream_job::delete_experiment_tables(
        &wh,
        "mozanalysis",
        "x",
        Some(&[jetstream_config::enums::AnalysisPeriod::Week]),
    )
    .expect("delete");
    assert_eq!(n, 5, "4 week tables and the weekly statistics view");
    let left: Vec<String> = wh
        .list_tables("mozanalysis", "")
        .expect("list")
        .into_iter()
        .map(|t| t.table)
        .filter(|t| {
            t.ends_with("x_overall_1")
                || t.starts_with("statistics_x_")
                || t.starts_with("x_")
                || t == "enrollments_x"
        })
        .filter(|t| !t.contains("x_v2") && !t.contains("x_2024"))
        .collect();
    assert_eq!(
        left,
        [
            "enrollments_x",
            "statistics_x_overall_1",
            "statistics_x_preenrollment_week_1",
            "statistics_x_week_9",
            "x_enrollments_events_overall_1"
        ]
    );
    // Every period of x.
    let n = jetstream_job::delete_experiment_tables(&wh, "mozanalysis", "x", None).expect("delete");
    assert_eq!(n, 3);
    assert_eq!(
        others(&wh),
        before,
        "x-v2, x-2024 and the foreign table are untouched"
    );
    assert!(
        wh.table_exists(&name("enrollments_x")).expect("exists"),
        "enrollments are kept"
    );
}

#[test]
fn rerunning_one_experiment_leaves_the_others_identical_and_recreates_enrollments_once() {
    let dir = scratch("isolation");
    let (wh, parsed) = simulated(&dir, |_, t| t);
    let configs = hub(&dir);
    let sink = LocalFolder::new(dir.join("out"));
    let job = Job::new(&wh, configs.clone(), JobOptions::default())
        .expect("job")
        .with_sink(&sink);
    let report = job.run_daily(&parsed, d("2026-01-28"), &[], &Events::default());
    assert!(report.success());
    let exports = |slug: &str| {
        std::fs::read(dir.join(format!("out/statistics/statistics_{slug}_overall.json")))
            .expect("export")
    };
    let others = snapshot(&wh, "mozanalysis", "two_branches");
    let fenix = exports("jetstream_sim_fenix");
    let three = exports("jetstream_sim_three_branches");

    let mut options = JobOptions::default();
    options.run.recreate_enrollments = true;
    let rerun = Job::new(&wh, configs, options)
        .expect("job")
        .with_sink(&sink);
    let created = Mutex::new(0);
    struct Count<'a>(&'a Mutex<usize>);
    impl Progress for Count<'_> {}
    impl Observer for Count<'_> {
        fn event(&self, event: &Event<'_>) {
            if let Event::Analysed(r) = event
                && matches!(r.enrollments, jetstream_job::Enrollments::Created(_))
            {
                *self.0.lock().expect("lock") += 1;
            }
        }
    }
    let slug = "jetstream-sim-two-branches".to_string();
    let report = rerun.rerun(
        &parsed,
        std::slice::from_ref(&slug),
        d("2026-11-30"),
        &Count(&created),
    );
    assert!(report.success());
    assert_eq!(
        *created.lock().expect("lock"),
        1,
        "the enrollments are recreated once per rerun"
    );
    assert_eq!(snapshot(&wh, "mozanalysis", "two_branches"), others);
    assert_eq!(exports("jetstream_sim_fenix"), fenix);
    assert_eq!(exports("jetstream_sim_three_branches"), three);

    // Recreating with a query that fails keeps the previous enrollments readable.
    let count = || {
        wh.query_columns(
            "SELECT COUNT(*) AS n FROM mozanalysis.enrollments_jetstream_sim_two_branches",
        )
        .expect("enrollments readable")
    };
    let before = count();
    let mut options = JobOptions::default();
    options.run.recreate_enrollments = true;
    options.run.use_glean_ids = true; // no Glean events in this warehouse: the query fails
    let failing = Job::new(&wh, hub(&dir), options).expect("job");
    let report = failing.ensure_enrollments(
        &parsed,
        std::slice::from_ref(&slug),
        d("2026-01-28"),
        &Events::default(),
    );
    assert_eq!(report.experiments.get(&slug), Some(&Outcome::Failed));
    assert_eq!(
        count(),
        before,
        "the old enrollments survive a failed replacement"
    );
}

#[test]
fn slugs_that_share_table_names_are_a_conflict_not_a_merge() {
    let dir = scratch("conflict");
    let (wh, mut parsed) = simulated(&dir, |_, t| t);
    // Another experiment whose slug normalises like the two-branch one's.
    let mut twin = jetstream_job::with_slug(&parsed.experiments, "jetstream-sim-two-branches")
        .expect("experiment")
        .clone();
    twin.normandy_slug = "jetstream_sim_two_branches".into();
    parsed.experiments.push(twin);
    let job = Job::new(&wh, hub(&dir), JobOptions::default()).expect("job");
    let events = Events::default();
    let report = job.run_daily(&parsed, d("2026-01-28"), &[], &events);
    assert_eq!(
        report.experiments.get("jetstream-sim-two-branches"),
        Some(&Outcome::Failed)
    );
    assert_eq!(
        report.experiments.get("jetstream_sim_two_branches"),
        Some(&Outcome::Failed)
    );
    assert_eq!(
        report.experiments.get("jetstream-sim-fenix"),
        Some(&Outcome::Ok)
    );
    let lines = events.0.lock().expect("lock").join("\n");
    assert!(
        lines.contains("all write tables named jetstream_sim_two_branches"),
        "{lines}"
    );
    assert!(
        wh.list_tables("mozanalysis", "jetstream_sim_two_branches")
            .expect("list")
            .is_empty(),
        "nothing written for either"
    );
}

#[test]
fn log_rows_that_cannot_be_written_make_the_job_fail() {
    let dir = scratch("lostlogs");
    let (wh, parsed) = simulated(&dir, |_, t| t);
    let mut spy = jetstream_warehouse::conformance::Spy::new(&wh);
    spy.refuse_logs = true;
    let job = Job::new(&spy, hub(&dir), JobOptions::default()).expect("job");
    // The two-branch experiment logs warnings (no pre-enrollment table for its covariate).
    let slug = "jetstream-sim-two-branches".to_string();
    let report = job.run_daily(
        &parsed,
        d("2026-01-28"),
        std::slice::from_ref(&slug),
        &Events::default(),
    );
    assert_eq!(report.analyses, 1);
    assert!(
        !report.success(),
        "lost log records are a failure: {report:?}"
    );
    assert_eq!(report.experiments.get(&slug), Some(&Outcome::Failed));
}

/// Experiments `x`, `x-v2` and `x-2024`, analysed for real (their enrollments are the
/// simulated two-branch experiment's, through a custom enrollment query), then `x` rerun:
/// the other two experiments' tables, views and exports are byte-identical afterwards.
#[test]
fn rerunning_x_leaves_x_v2_and_x_2024_identical() {
    let dir = scratch("xfamily");
    let (wh, mut parsed) = simulated(&dir, |_, t| t);
    let base = jetstream_job::with_slug(&parsed.experiments, "jetstream-sim-two-branches")
        .expect("experiment")
        .clone();
    let config = std::fs::read_to_string(dir.join("jetstream/jetstream-sim-two-branches.toml"))
        .expect("config");
    let family = ["x", "x-v2", "x-2024"];
    for slug in family {
        let mut e = base.clone();
        e.normandy_slug = slug.to_string();
        parsed.experiments.push(e);
        let custom = config.replacen(
            "[experiment]",
            "[experiment]\nenrollment_query = \"SELECT analysis_id, branch, \
             enrollment_date, num_enrollment_events FROM \
             `moz-fx-data-experiments.mozanalysis.enrollments_jetstream_sim_two_branches`\"",
            1,
        );
        std::fs::write(dir.join(format!("jetstream/{slug}.toml")), custom).expect("config");
    }
    let sink = LocalFolder::new(dir.join("out"));
    let job = Job::new(&wh, hub(&dir), JobOptions::default())
        .expect("job")
        .with_sink(&sink);
    let date = d("2026-01-28");
    let first = job.run_daily(
        &parsed,
        date,
        &["jetstream-sim-two-branches".to_string()],
        &Events::default(),
    );
    assert!(first.success(), "{first:?}");
    let family_slugs: Vec<String> = family.iter().map(|s| s.to_string()).collect();
    let events = Events::default();
    let report = job.run_daily(&parsed, date, &family_slugs, &events);
    assert!(report.success(), "{report:?} {:?}", events.0.lock());
    assert_eq!(
        report.tables, 3,
        "each of x, x-v2, x-2024 has its statistics"
    );
    let others = |wh: &jetstream_duckdb::DuckDbWarehouse| {
        let mut rows = snapshot(wh, "mozanalysis", "\u{0}");
        rows.retain(|l| l.contains(".x_v2_") || l.contains("_x_v2_") || l.contains("x_2024"));
        rows
    };
    let before = others(&wh);
    assert!(before.len() >= 10, "{}", before.len());
    let exports = |slug: &str| {
        std::fs::read(dir.join(format!("out/statistics/statistics_{slug}_overall.json")))
            .expect("export")
    };
    let (v2, y2024) = (exports("x_v2"), exports("x_2024"));

    let report = job.rerun(
        &parsed,
        &["x".to_string()],
        d("2026-11-30"),
        &Events::default(),
    );
    assert!(report.success(), "{report:?}");
    assert_eq!(
        others(&wh),
        before,
        "x-v2 and x-2024 untouched by the rerun of x"
    );
    assert_eq!(exports("x_v2"), v2);
    assert_eq!(exports("x_2024"), y2024);
}

#[test]
fn a_dataset_name_that_could_change_the_sql_is_refused() {
    let dir = scratch("baddataset");
    let (wh, parsed) = simulated(&dir, |slug, t| {
        if slug == "jetstream-sim-two-branches" {
            t.replacen(
                "[experiment]",
                "[experiment]\nis_private = true\ndataset_id = \"x`; DROP TABLE y; --\"",
                1,
            )
        } else {
            t
        }
    });
    let job = Job::new(&wh, hub(&dir), JobOptions::default()).expect("job");
    let events = Events::default();
    let report = job.run_daily(&parsed, d("2026-01-28"), &[], &events);
    assert_eq!(
        report.experiments.get("jetstream-sim-two-branches"),
        Some(&Outcome::Failed)
    );
    assert_eq!(
        report.experiments.get("jetstream-sim-fenix"),
        Some(&Outcome::Ok)
    );
    let lines = events.0.lock().expect("lock").join("\n");
    assert!(
        lines.contains("experiment.dataset_id") && lines.contains("not a dataset name"),
        "{lines}"
    );
}
