//! The daily job over the embedded warehouse and simulated telemetry: the daily run, reruns,
//! config repositories in order, private experiments.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use chrono::NaiveDate;
use jetstream_job::{
    ConfigSource as _, Event, ExperimentSource as _, Job, JobOptions, LocalConfigRepos,
    LocalFolder, Observer, Outcome, Progress, TableName, Warehouse as _, WarehouseSpec,
};

fn d(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date")
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("jetstream-job-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("jetstream")).expect("mkdir");
    dir
}

/// Simulated telemetry in an in-memory warehouse; the recipes and a metric-hub folder with the
/// simulated experiments' configs (each passed through `edit`).
fn simulated(
    dir: &Path,
    edit: impl Fn(&str, String) -> String,
) -> (jetstream_warehouse::DuckDbWarehouse, jetstream_job::Parsed) {
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
    let configs = LocalConfigRepos {
        public: vec![dir.clone()],
        private: Vec::new(),
    }
    .configs()
    .expect("configs");
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
    std::fs::remove_dir_all(dir).expect("cleanup");
}

#[test]
fn a_rerun_deletes_then_analyses_every_date_of_the_reference_rule() {
    let dir = scratch("rerun");
    let (wh, parsed) = simulated(&dir, |_, t| t);
    let configs = LocalConfigRepos {
        public: vec![dir.clone()],
        private: Vec::new(),
    }
    .configs()
    .expect("configs");
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
    std::fs::remove_dir_all(dir).expect("cleanup");
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
    let configs = LocalConfigRepos {
        public: vec![first.clone(), second.clone()],
        private: vec![private.clone()],
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
    // A URL is not a checkout.
    let err = LocalConfigRepos {
        public: vec!["https://github.com/mozilla/metric-hub".into()],
        private: Vec::new(),
    }
    .configs()
    .expect_err("not a folder");
    assert!(err.to_string().contains("local checkouts"), "{err}");
    for dir in [first, second, private] {
        std::fs::remove_dir_all(dir).expect("cleanup");
    }
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
    let configs = LocalConfigRepos {
        public: vec![dir.clone()],
        private: Vec::new(),
    }
    .configs()
    .expect("configs");
    let job = Job::new(&wh, configs, JobOptions::default()).expect("job");
    let slug = "jetstream-sim-two-branches".to_string();
    let events = Events::default();
    let report = job.run_daily(
        &parsed,
        d("2026-01-28"),
        std::slice::from_ref(&slug),
        &events,
    );
    assert!(report.success(), "{report:?} {:?}", events.0.lock());
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
    std::fs::remove_dir_all(dir).expect("cleanup");
}

#[test]
fn every_generated_query_is_kept_and_glean_ids_reach_the_sql() {
    let dir = scratch("sql");
    let (wh, parsed) = simulated(&dir, |_, t| t);
    let configs = LocalConfigRepos {
        public: vec![dir.clone()],
        private: Vec::new(),
    }
    .configs()
    .expect("configs");
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
    std::fs::remove_dir_all(dir).expect("cleanup");
}
