//! Configs from a git repository with history: experiments pinned to the configs of their
//! first analysis, and `rerun-config-changed`'s choice of experiments.

use std::path::Path;

use std::sync::Arc;
use std::time::Duration;

use jetstream_job::{Column, ConfigRepoSources, Job, JobOptions, Quiet, Warehouse as _};
use jetstream_simulate::{EXPERIMENT_A, EXPERIMENT_B, EXPERIMENT_FENIX};

use crate::job::{d, scratch, simulated};
use jetstream_test_support::git;

/// Commit everything, one second after the previous writes (git times have whole seconds, so
/// a change always lands after the results written before it).
fn commit(dir: &Path, message: &str) {
    std::thread::sleep(Duration::from_millis(1100));
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", message]);
}

fn write(dir: &Path, rel: &str, text: &str) {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
    std::fs::write(p, text).expect("write");
}

/// A job over `wh` with the repository at `dir` as it is now, pinning to history.
fn job_at<'a>(wh: &'a dyn jetstream_job::Warehouse, dir: &Path) -> Job<'a> {
    let repos = Arc::new(ConfigRepoSources::folders(&[dir]).open().expect("repos"));
    Job::new(wh, repos.current().as_ref().clone(), JobOptions::default())
        .expect("job")
        .with_history(repos)
}

const DEFINITIONS: &str = r#"
[data_sources.pin_daily]
from_expression = "mozdata.telemetry.clients_daily"
experiments_column_type = "simple"

[metrics.pinned_hours]
data_source = "pin_daily"
select_expression = "COALESCE(SUM(active_hours_sum), 0)SCALE"
friendly_name = "Pinned hours"
description = "Active hours, scaled by the definition's version"
[metrics.pinned_hours.statistics.sum]
"#;

fn definitions(scale: &str) -> String {
    DEFINITIONS.replace("SCALE", scale)
}

fn control_sum(wh: &dyn jetstream_job::Warehouse) -> f64 {
    let sql = "SELECT point FROM mozanalysis.statistics_jetstream_sim_two_branches_overall_1 \
               WHERE metric = 'pinned_hours' AND statistic = 'sum' AND branch = 'control' \
               AND analysis_basis = 'enrollments' AND segment = 'all'";
    match wh.query_columns(sql).expect("statistics").get("point") {
        Some(Column::Float(v)) if v.len() == 1 => v[0].expect("a value"),
        other => panic!("one point expected: {other:?}"),
    }
}

#[test]
fn a_definition_changed_after_the_first_analysis_waits_for_a_rerun() {
    let dir = scratch("pinning");
    let (wh, parsed) = simulated(&dir, |slug, toml| {
        if slug == EXPERIMENT_A {
            toml.replacen("overall = [", "overall = [\"pinned_hours\", ", 1)
        } else {
            toml
        }
    });
    write(&dir, "definitions/firefox_desktop.toml", &definitions(""));
    git(&dir, &["init", "-q", "-b", "main"]);
    commit(&dir, "first version");
    let slug = vec![EXPERIMENT_A.to_string()];

    // The first analysis creates the enrollments table: the configs are pinned to now.
    let report = job_at(&wh, &dir).run_daily(&parsed, d("2026-01-20"), &slug, &Quiet);
    assert!(report.success(), "{report:?}");

    // The shared definition changes afterwards.
    write(
        &dir,
        "definitions/firefox_desktop.toml",
        &definitions(" * 2"),
    );
    commit(&dir, "double the pinned metric");

    // The next daily run still uses the version of the first analysis...
    let job = job_at(&wh, &dir);
    let report = job.run_daily(&parsed, d("2026-01-28"), &slug, &Quiet);
    assert!(report.success(), "{report:?}");
    let pinned = control_sum(&wh);
    assert!(pinned > 0.0);
    // ...while a rerun adopts the current version,
    let report = job.rerun(&parsed, &slug, d("2026-01-28"), &Quiet);
    assert!(report.success(), "{report:?}");
    let current = control_sum(&wh);
    assert!(
        (current - 2.0 * pinned).abs() < 1e-6 * current.abs(),
        "pinned {pinned}, after the rerun {current}"
    );
    // and later daily runs keep it (the rerun counts as the first analysis now).
    let experiment = jetstream_job::with_slug(&parsed.experiments, EXPERIMENT_A).expect("A");
    let job = job_at(&wh, &dir);
    let resolved = job.resolve(experiment).expect("resolves");
    let text = format!("{:?}", resolved.metrics);
    assert!(text.contains("SUM(active_hours_sum), 0) * 2"), "{text}");
}

#[test]
fn rerun_config_changed_picks_exactly_the_experiments_whose_configs_changed() {
    let dir = scratch("changed");
    let (wh, mut parsed) = simulated(&dir, |_, toml| toml);
    // The Fenix experiment uses an outcome (from its recipe, as Experimenter lists them).
    for e in &mut parsed.experiments {
        if e.normandy_slug == EXPERIMENT_FENIX {
            e.outcomes.push("engagement".into());
        }
    }
    let outcome = |n: u32| {
        format!(
            "friendly_name = \"Engagement\"\ndescription = \"Version {n}\"\n\n\
             [metrics.engaged_days]\ndata_source = \"fenix_baseline\"\n\
             select_expression = \"COUNT(DISTINCT submission_date)\"\n\
             [metrics.engaged_days.statistics.bootstrap_mean]\n\n\
             [data_sources.fenix_baseline]\nfrom_expression = \"(SELECT p.*, DATE(p.submission_timestamp) \
             AS submission_date FROM `moz-fx-data-shared-prod.org_mozilla_firefox.baseline` p)\"\n\
             client_id_column = \"client_info.client_id\"\nexperiments_column_type = \"glean\"\n"
        )
    };
    write(
        &dir,
        "jetstream/outcomes/fenix/engagement.toml",
        &outcome(1),
    );
    write(
        &dir,
        "jetstream/defaults/firefox_desktop.toml",
        "[metrics]\nweekly = []\n",
    );
    write(
        &dir,
        "jetstream/defaults/fenix.toml",
        "[metrics]\nweekly = []\n",
    );
    git(&dir, &["init", "-q", "-b", "main"]);
    commit(&dir, "first version");
    // Results of every experiment (live on `today`).
    let today = d("2026-01-28");
    let all = [EXPERIMENT_A, EXPERIMENT_B, EXPERIMENT_FENIX].map(String::from);
    let report = job_at(&wh, &dir).run_daily(&parsed, today, &all, &Quiet);
    assert!(report.success(), "{report:?}");
    let stats = wh.list_tables("mozanalysis", "statistics_").expect("list");
    for slug in &all {
        let n = jetstream_job::TableName::new("x", slug)
            .expect("name")
            .table;
        let norm = n.replace('-', "_");
        assert!(
            stats
                .iter()
                .any(|t| t.table.starts_with(&format!("statistics_{norm}_"))),
            "results of {slug}: {stats:?}"
        );
    }
    let changed = |dir: &Path| -> Vec<String> {
        let found = job_at(&wh, dir).config_changes(&parsed, today);
        assert!(found.errors.is_empty(), "{:?}", found.errors);
        found.changed.into_iter().map(|c| c.slug).collect()
    };
    assert!(changed(&dir).is_empty(), "configs older than every result");

    // One experiment config: exactly that experiment.
    let a = dir.join(format!("jetstream/{EXPERIMENT_A}.toml"));
    let text = std::fs::read_to_string(&a).expect("config");
    std::fs::write(&a, format!("{text}\n# reviewed\n")).expect("edit");
    commit(&dir, "edit A");
    assert_eq!(changed(&dir), [EXPERIMENT_A]);
    let report = job_at(&wh, &dir).rerun(&parsed, &[EXPERIMENT_A.into()], today, &Quiet);
    assert!(report.success(), "{report:?}");
    assert!(changed(&dir).is_empty(), "nothing left after the rerun");

    // A platform's defaults: that platform's (live) experiments.
    write(
        &dir,
        "jetstream/defaults/firefox_desktop.toml",
        "[metrics]\nweekly = []\n# v2\n",
    );
    commit(&dir, "desktop defaults");
    let mut desktop = changed(&dir);
    desktop.sort();
    assert_eq!(desktop, [EXPERIMENT_B, EXPERIMENT_A]);
    // rerun-skip marks them up to date instead.
    let marked = job_at(&wh, &dir).mark_up_to_date(&desktop);
    assert!(
        marked.iter().all(|(_, r)| matches!(r, Ok(n) if *n > 0)),
        "{marked:?}"
    );
    assert!(changed(&dir).is_empty());

    // An outcome: the experiments using it.
    write(
        &dir,
        "jetstream/outcomes/fenix/engagement.toml",
        &outcome(2),
    );
    commit(&dir, "outcome");
    assert_eq!(changed(&dir), [EXPERIMENT_FENIX]);
    // Ended experiments do not follow defaults or outcomes (their results stay as analysed).
    let later = job_at(&wh, &dir).config_changes(&parsed, d("2026-03-01"));
    assert!(later.changed.is_empty(), "{:?}", later.changed);
}

#[test]
fn a_sample_ratio_mismatch_is_a_warning_row_once_per_enrollments_table() {
    let dir = scratch("srm");
    let (wh, mut parsed) = simulated(&dir, |_, toml| toml);
    // The simulator splits two-branches 50/50; configured 1:3 it is a mismatch.
    for e in &mut parsed.experiments {
        if e.normandy_slug == EXPERIMENT_A {
            for b in &mut e.branches {
                if b.slug != "control" {
                    b.ratio = 3;
                }
            }
        }
    }
    let job = Job::new(&wh, crate::job::hub(&dir), JobOptions::default()).expect("job");
    let all = [EXPERIMENT_A, EXPERIMENT_B, EXPERIMENT_FENIX].map(String::from);
    let report = job.run_daily(&parsed, d("2026-01-20"), &all, &Quiet);
    assert!(report.success(), "{report:?}");
    let rows = |sql: &str| wh.query_columns(sql).expect("logs");
    let srm = rows(
        "SELECT experiment, analysis_basis, log_level, message FROM monitoring.logs \
         WHERE exception_type = 'SampleRatioMismatch' ORDER BY analysis_basis",
    );
    let text = |c: &str| match srm.get(c) {
        Some(Column::Text(v)) => v.iter().map(|x| x.clone().unwrap_or_default()).collect(),
        other => panic!("{c}: {other:?}"),
    };
    let experiments: Vec<String> = text("experiment");
    assert!(!experiments.is_empty(), "the 1:3 experiment is flagged");
    assert!(
        experiments.iter().all(|e| e == EXPERIMENT_A),
        "the balanced experiments are not: {experiments:?}"
    );
    assert!(text("log_level").iter().all(|l: &String| l == "WARNING"));
    let messages: Vec<String> = text("message");
    assert!(
        messages[0].contains("control")
            && messages[0].contains("ratio 3")
            && messages[0].contains("p-value"),
        "{messages:?}"
    );
    // The next day keeps the enrollments table: no second row.
    let report = job.run_daily(&parsed, d("2026-01-21"), &all, &Quiet);
    assert!(report.success(), "{report:?}");
    let again = rows(
        "SELECT COUNT(*) AS n FROM monitoring.logs WHERE exception_type = 'SampleRatioMismatch'",
    );
    assert_eq!(
        again.get("n"),
        Some(&Column::Int(vec![Some(experiments.len() as i64)]))
    );
}
