//! The local executor (`--parallel N`) and the Argo plan of a job: five simulated experiments
//! rerun on every date with four analyses at once give exactly the serial run's tables; the
//! workflow items pin each experiment to the image that first analysed it. (Wall times are
//! measured by `cargo xtask bench run`, in a release build.)

use chrono::{Duration, Utc};
use jetstream_job::argo::Plan;
use jetstream_job::{
    ExperimentSource as _, ImageChoice, ImageRegistry, Job, JobOptions, Quiet, Warehouse as _,
    WarehouseSpec,
};
use jetstream_simulate::{EXPERIMENT_A, EXPERIMENT_B};

use crate::job::{d, hub, scratch};

const COPY_A: &str = "jetstream-sim-two-branches-copy";
const COPY_B: &str = "jetstream-sim-three-branches-copy";

/// Five simulated experiments (the three of the simulator, and copies of the two desktop
/// ones) in a fresh in-memory warehouse; configs in `dir/jetstream`.
fn five(dir: &std::path::Path) -> (jetstream_duckdb::DuckDbWarehouse, jetstream_job::Parsed) {
    let wh = WarehouseSpec::new("duckdb::memory:")
        .open_duckdb()
        .expect("warehouse");
    let mut report = jetstream_simulate::simulate(
        &wh,
        &jetstream_simulate::SimOptions {
            clients: 300,
            start: d("2026-01-01"),
            days: 28,
            seed: 5,
            effects: Default::default(),
        },
    )
    .expect("simulate");
    jetstream_simulate::clone_experiment(&wh, &mut report, EXPERIMENT_A, COPY_A).expect("copy");
    jetstream_simulate::clone_experiment(&wh, &mut report, EXPERIMENT_B, COPY_B).expect("copy");
    wh.mirror_catalog("moz-fx-data-shared-prod", "mozdata")
        .expect("mirror");
    for (slug, toml) in jetstream_simulate::configs() {
        std::fs::write(dir.join(format!("jetstream/{slug}.toml")), &toml).expect("config");
        let copy = match slug.as_str() {
            EXPERIMENT_A => COPY_A,
            EXPERIMENT_B => COPY_B,
            _ => continue,
        };
        std::fs::write(dir.join(format!("jetstream/{copy}.toml")), &toml).expect("config");
    }
    let recipes = serde_json::to_string(&jetstream_simulate::recipes(&report)).expect("json");
    let parsed = jetstream_job::parse_recipes(&recipes, d("2026-11-30"))
        .expect("recipes")
        .experiments(&[], d("2026-11-30"))
        .expect("source");
    assert_eq!(parsed.experiments.len(), 5);
    (wh, parsed)
}

/// Every table and view of the results dataset with its rows (no timestamps).
fn tables(wh: &dyn jetstream_job::Warehouse) -> Vec<(String, jetstream_job::Columns)> {
    wh.list_tables("mozanalysis", "")
        .expect("list")
        .into_iter()
        .map(|t| {
            let rows = wh
                .query_columns(&format!(
                    "SELECT * FROM `{}.mozanalysis.{}` ORDER BY ALL",
                    wh.project(),
                    t.table
                ))
                .expect("read");
            (t.to_string(), rows)
        })
        .collect()
}

#[test]
fn four_analyses_at_once_give_exactly_the_serial_statistics() {
    let dir = scratch("parallel");
    let slugs: Vec<String> = [
        EXPERIMENT_A,
        EXPERIMENT_B,
        jetstream_simulate::EXPERIMENT_FENIX,
        COPY_A,
        COPY_B,
    ]
    .map(String::from)
    .to_vec();
    let mut results = Vec::new();
    for parallel in [1, 4] {
        let (wh, parsed) = five(&dir);
        let job = Job::new(&wh, hub(&dir), JobOptions::default())
            .expect("job")
            .with_parallelism(parallel)
            .expect("threads");
        let report = job.rerun(&parsed, &slugs, d("2026-11-30"), &Quiet);
        assert!(report.success(), "--parallel {parallel}: {report:?}");
        assert_eq!(report.experiments.len(), 5);
        results.push((report.analyses, report.tables, report.skipped, tables(&wh)));
    }
    let (serial, parallel) = (&results[0], &results[1]);
    assert!(
        serial.0 >= 5 * 20,
        "every date of every experiment: {}",
        serial.0
    );
    assert_eq!(
        (serial.0, serial.1, serial.2),
        (parallel.0, parallel.1, parallel.2)
    );
    assert!(serial.3.len() > 5 * 10, "{} tables", serial.3.len());
    assert_eq!(serial.3.len(), parallel.3.len());
    // Equal to rounding: the partials of a date are computed in other scans when the dates
    // run at once, and sums of floats add in another order.
    for ((ta, a), (tb, b)) in serial.3.iter().zip(&parallel.3) {
        assert_eq!(ta, tb);
        if let Some(d) = a.difference(b, 1e-12) {
            panic!("{ta}: {d}");
        }
    }
}

/// A registry with two images: one uploaded a day ago, one in an hour.
struct TwoImages;

impl ImageRegistry for TwoImages {
    fn images(
        &self,
        name: &str,
    ) -> Result<Vec<jetstream_job::argo::Image>, jetstream_job::argo::CloudError> {
        assert_eq!(name, "gcr.io/p/jetstream");
        let image = |digest: &str, uploaded| jetstream_job::argo::Image {
            reference: format!("{name}@sha256:{digest}"),
            uploaded,
            tags: Vec::new(),
        };
        Ok(vec![
            image("old", Utc::now() - Duration::days(1)),
            image("new", Utc::now() + Duration::hours(1)),
        ])
    }
}

#[test]
fn workflow_items_pin_images_and_reruns_delete_before_submitting() {
    let dir = scratch("argo-plan");
    let (wh, parsed) = five(&dir);
    let job = Job::new(&wh, hub(&dir), JobOptions::default()).expect("job");
    // Analyse one experiment: its enrollments table is written now.
    let report = job.rerun(&parsed, &[EXPERIMENT_A.into()], d("2026-11-30"), &Quiet);
    assert!(report.success() && report.tables > 0, "{report:?}");
    let mut report = jetstream_job::JobReport::default();
    let plan: Plan = job.daily_plan(
        &parsed,
        d("2026-01-27"),
        &[],
        &jetstream_job::DailyOptions::default(),
        &Quiet,
        &mut report,
    );
    assert_eq!(plan.len(), 5);
    let choice = ImageChoice::new("gcr.io/p/jetstream", None);
    let (items, newest) = job
        .workflow_items(
            &plan,
            &choice,
            Some(&TwoImages),
            None,
            false,
            &Quiet,
            &mut report,
        )
        .expect("items");
    assert_eq!(
        newest, "gcr.io/p/jetstream@sha256:new",
        "the exit handler's image"
    );
    let image_of = |slug: &str| {
        items
            .iter()
            .find(|i| i.slug == slug)
            .map(|i| (i.image.clone(), i.discrete_metrics))
            .unwrap()
    };
    // Analysed before the newest image: kept on the older one; never analysed: the newest.
    assert_eq!(
        image_of(EXPERIMENT_A),
        ("gcr.io/p/jetstream@sha256:old".into(), true)
    );
    assert_eq!(
        image_of(COPY_A),
        ("gcr.io/p/jetstream@sha256:new".into(), true)
    );
    let err = job
        .workflow_items(&plan, &choice, None, None, false, &Quiet, &mut report)
        .unwrap_err();
    assert!(err.to_string().contains("--image-version"), "{err}");
    let params = job.workflow_params(items);
    assert_eq!(
        (params.project_id.as_str(), params.dataset_id.as_str()),
        ("moz-fx-data-experiments", "mozanalysis")
    );
    // A rerun's items count as analysed now (the reference touches the tables first).
    let rerun: Plan = job.rerun_plan(
        &parsed,
        &[EXPERIMENT_A.into()],
        d("2026-11-30"),
        &Quiet,
        &mut report,
    );
    assert_eq!(rerun[0].dates.len(), 22);
    let (items, _) = job
        .workflow_items(
            &rerun,
            &choice,
            Some(&TwoImages),
            None,
            true,
            &Quiet,
            &mut report,
        )
        .expect("items");
    assert_eq!(
        items[0].image, "gcr.io/p/jetstream@sha256:old",
        "the newest one not after now"
    );
    // Planning deletes nothing; before_submit deletes the rerun's tables, enrollments kept.
    let before = wh.list_tables("mozanalysis", "").expect("list").len();
    assert!(before > 1);
    job.before_submit(&rerun, &items, true, &Quiet, &mut report);
    let after = wh.list_tables("mozanalysis", "").expect("list");
    assert!(after.len() < before, "{before} -> {}", after.len());
    assert!(
        after.iter().any(|t| t.table.starts_with("enrollments_")),
        "enrollments kept"
    );
    // Experiments left out of the workflow are not touched.
    let mut report = jetstream_job::JobReport::default();
    let all: Plan = job.rerun_plan(
        &parsed,
        &[COPY_A.into()],
        d("2026-11-30"),
        &Quiet,
        &mut report,
    );
    job.before_submit(&all, &[], true, &Quiet, &mut report);
    assert_eq!(
        wh.list_tables("mozanalysis", "").expect("list").len(),
        after.len()
    );
}
