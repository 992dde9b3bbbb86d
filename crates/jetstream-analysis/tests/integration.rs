//! Runnability rules and enrollments on the real DuckDB warehouse.

mod partials;
#[path = "run.rs"]
mod run;

use chrono::NaiveDate;
use jetstream_analysis::{
    Enrollments, NotRunnable, RunOptions, check_enrollment_complete, check_runnable,
    ensure_enrollments,
};
use jetstream_config::experiment::{Experiment, ExperimentConfiguration};
use jetstream_config::spec::ExperimentSpec;
use jetstream_duckdb::DuckDbWarehouse;
use jetstream_warehouse::{Column, TableName, Warehouse};

fn d(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date")
}

fn desktop() -> Experiment {
    let mut e = Experiment::dummy("no-config-desktop", "firefox_desktop", d("2026-01-05"));
    e.enrollment_end_date = Some(d("2026-01-11"));
    e.end_date = Some(d("2026-02-09"));
    e
}

fn conf(e: Experiment) -> ExperimentConfiguration {
    ExperimentConfiguration::new(e, ExperimentSpec::default())
}

#[test]
fn runnability_in_the_reference_order() {
    let date = d("2026-01-20");
    assert_eq!(check_runnable(&conf(desktop()), date), Ok(()));

    // Skip comes before high population, which comes before the rest.
    let mut e = desktop();
    e.is_high_population = true;
    e.is_rollout = true;
    let mut c = conf(e);
    assert_eq!(
        check_runnable(&c, date).map_err(|e| e.exception_type().as_str()),
        Err("HighPopulationException")
    );
    c.spec.skip = true;
    assert_eq!(
        check_runnable(&c, date).map_err(|e| e.exception_type().as_str()),
        Err("ExplicitSkipException")
    );

    let mut e = desktop();
    e.start_date = None;
    assert_eq!(
        check_runnable(&conf(e), date).map_err(|e| e.exception_type().as_str()),
        Err("NoStartDateException")
    );

    // Ended before the date (the end date itself is still analysed).
    assert_eq!(check_runnable(&conf(desktop()), d("2026-02-09")), Ok(()));
    assert_eq!(
        check_runnable(&conf(desktop()), d("2026-02-10")),
        Err(NotRunnable::EndedException(
            "no-config-desktop".into(),
            d("2026-02-09")
        ))
    );

    let mut e = desktop();
    e.is_rollout = true;
    assert_eq!(
        check_runnable(&conf(e), date).map_err(|e| e.exception_type().as_str()),
        Err("RolloutSkipException")
    );

    let mut e = desktop();
    e.app_name = "netscape".into();
    assert_eq!(
        check_runnable(&conf(e), date).map_err(|e| e.exception_type().as_str()),
        Err("UnsupportedApplicationException")
    );
}

#[test]
fn v6_enrollment_must_have_ended_unless_the_config_sets_the_period() {
    let mut e = desktop();
    e.enrollment_end_date = None;
    let mut c = conf(e);
    assert_eq!(
        check_enrollment_complete(&c).map_err(|e| e.exception_type().as_str()),
        Err("EnrollmentNotCompleteException")
    );
    c.spec.enrollment_period = Some(7);
    assert_eq!(check_enrollment_complete(&c), Ok(()));
    let mut e = desktop();
    e.enrollment_end_date = None;
    e.experiment_type = "v1".into();
    assert_eq!(check_enrollment_complete(&conf(e)), Ok(()));
}

const EVENTS: &str = r#"
CREATE SCHEMA "moz-fx-data-shared-prod".telemetry;
CREATE TABLE "moz-fx-data-shared-prod".telemetry.events AS
SELECT * FROM (VALUES
  ('c1', [{'key': 'branch', 'value': 'control'}], DATE '2026-01-05', 'normandy', 'enroll', 'no-config-desktop', 1),
  ('c2', [{'key': 'branch', 'value': 'treatment'}], DATE '2026-01-06', 'normandy', 'enroll', 'no-config-desktop', 2)
) AS t(client_id, event_map_values, submission_date, event_category, event_method, event_string_value, sample_id);
"#;

fn count(wh: &DuckDbWarehouse) -> Option<i64> {
    match wh
        .query_columns("SELECT COUNT(*) AS n FROM mozanalysis.enrollments_no_config_desktop")
        .expect("count")
        .get("n")
    {
        Some(Column::Int(v)) => v[0],
        other => panic!("{other:?}"),
    }
}

#[test]
fn enrollments_are_created_once_kept_and_recreated_on_request() {
    let wh = DuckDbWarehouse::in_memory("moz-fx-data-experiments").expect("open");
    wh.ensure_catalog("moz-fx-data-shared-prod")
        .expect("catalog");
    wh.execute_native(EVENTS).expect("events");
    let c = conf(desktop());
    let keep = RunOptions::default();
    let recreate = RunOptions {
        recreate_enrollments: true,
        ..RunOptions::default()
    };

    // Before the last enrollment date no day window is ready.
    assert_eq!(
        ensure_enrollments(&c, d("2026-01-10"), &wh, &keep).expect("early"),
        Enrollments::NotReady
    );
    assert_eq!(
        ensure_enrollments(&c, d("2026-01-12"), &wh, &keep).expect("create"),
        Enrollments::Created(2)
    );
    // A late enrollment event does not change the kept table...
    wh.execute_native(
        "INSERT INTO \"moz-fx-data-shared-prod\".telemetry.events VALUES \
         ('c3', [{'key': 'branch', 'value': 'control'}], DATE '2026-01-07', 'normandy', 'enroll', 'no-config-desktop', 3)",
    )
    .expect("late event");
    assert_eq!(
        ensure_enrollments(&c, d("2026-01-20"), &wh, &keep).expect("keep"),
        Enrollments::Kept
    );
    assert_eq!(count(&wh), Some(2));
    // ...until the enrollments are recreated.
    assert_eq!(
        ensure_enrollments(&c, d("2026-01-20"), &wh, &recreate).expect("recreate"),
        Enrollments::Created(3)
    );
    let table = TableName::new("mozanalysis", "enrollments_no_config_desktop").expect("name");
    assert_eq!(
        wh.table_metadata(&table)
            .expect("meta")
            .map(|m| m.description),
        Some("no-config-desktop".into())
    );
}
