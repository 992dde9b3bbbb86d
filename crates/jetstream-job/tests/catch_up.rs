//! Catch-up and late data: a date the daily run missed is analysed by the next run with
//! `catch_up` (its ready windows only, equal to an uninterrupted run's), a second run finds
//! nothing to do, and a date whose telemetry has not landed is analysed not at all.

use std::collections::BTreeSet;

use jetstream_job::{DailyOptions, Job, JobOptions, Quiet};

use crate::job::{d, hub, scratch, simulated};

/// The statistics tables of the results dataset.
fn statistics_tables(wh: &dyn jetstream_job::Warehouse) -> BTreeSet<String> {
    wh.list_tables("mozanalysis", "statistics_")
        .expect("list")
        .into_iter()
        .map(|t| t.table)
        .filter(|t| t.ends_with(|c: char| c.is_ascii_digit()))
        .collect()
}

fn rows(wh: &dyn jetstream_job::Warehouse, table: &str) -> jetstream_job::Columns {
    wh.query_columns(&format!(
        "SELECT * FROM `{}.mozanalysis.{table}` ORDER BY ALL",
        wh.project()
    ))
    .expect("read")
}

fn last_updated(wh: &dyn jetstream_job::Warehouse, table: &str) -> chrono::DateTime<chrono::Utc> {
    wh.table_metadata(&jetstream_job::TableName::new("mozanalysis", table).expect("name"))
        .expect("metadata")
        .expect("table")
        .last_updated
}

#[test]
fn a_missed_date_is_caught_up_equal_to_an_uninterrupted_run_and_only_once() {
    let first = d("2026-01-08");
    // The uninterrupted month: which statistics tables each date writes.
    let dir = scratch("catch-up-full");
    let (full, parsed) = simulated(&dir, |_, t| t);
    let job = Job::new(&full, hub(&dir), JobOptions::default()).expect("job");
    let mut written_on = Vec::new();
    let mut date = first;
    let missed = loop {
        let before = statistics_tables(&full);
        let report = job.run_daily(&parsed, date, &[], &Quiet);
        assert!(report.success(), "{date}: {report:?}");
        let new: BTreeSet<String> = statistics_tables(&full)
            .difference(&before)
            .cloned()
            .collect();
        written_on.push((date, new.clone()));
        // The first date with a weekly window is the one to miss (a week window is ready on
        // one date only).
        if new
            .iter()
            .any(|t| t.contains("_week_") && !t.contains("preenrollment"))
        {
            break date;
        }
        date = date.succ_opt().unwrap();
        assert!(date < d("2026-01-29"), "no weekly window in the month");
    };
    let next = missed.succ_opt().unwrap();
    let report = job.run_daily(&parsed, next, &[], &Quiet);
    assert!(report.success(), "{report:?}");
    let missed_tables = written_on.last().unwrap().1.clone();
    assert!(missed_tables.len() >= 2, "{missed_tables:?}");

    // The same month with `missed` skipped (the cluster was down).
    let dir2 = scratch("catch-up-gap");
    let (gap, parsed2) = simulated(&dir2, |_, t| t);
    let job2 = Job::new(&gap, hub(&dir2), JobOptions::default()).expect("job");
    for (date, _) in &written_on {
        if *date != missed {
            assert!(job2.run_daily(&parsed2, *date, &[], &Quiet).success());
        }
    }
    for t in &missed_tables {
        assert!(!statistics_tables(&gap).contains(t), "{t} is missing");
    }
    let catch_up = DailyOptions {
        catch_up: 3,
        wait_for_data: None,
        ..DailyOptions::default()
    };
    let report = job2.run_daily_with(&parsed2, next, &[], &catch_up, &Quiet);
    assert!(report.success(), "{report:?}");
    // Every window of the missed date exists now, row for row the uninterrupted run's.
    for t in &missed_tables {
        assert!(statistics_tables(&gap).contains(t), "{t} caught up");
        // Equal to rounding: a caught-up date computes its partials in other scans than an
        // uninterrupted run, and sums of floats add in another order.
        if let Some(d) = rows(&gap, t).difference(&rows(&full, t), 1e-12) {
            panic!("{t}: {d}");
        }
    }
    assert_eq!(statistics_tables(&gap), statistics_tables(&full));
    // Run again: nothing is caught up (the missed date's tables are not written again), only
    // the run's own date is analysed.
    let stamps: Vec<_> = missed_tables
        .iter()
        .map(|t| (t.clone(), last_updated(&gap, t)))
        .collect();
    let again = job2.run_daily_with(&parsed2, next, &[], &catch_up, &Quiet);
    let once = job2.run_daily(&parsed2, next, &[], &Quiet);
    assert!(again.success());
    assert_eq!(
        again.analyses, once.analyses,
        "no catch-up analysis the second time"
    );
    assert_eq!(again.tables, once.tables);
    for (t, stamp) in stamps {
        assert_eq!(last_updated(&gap, &t), stamp, "{t} untouched");
    }
    assert_eq!(statistics_tables(&gap), statistics_tables(&full));
}

#[test]
fn a_date_without_telemetry_is_not_analysed_and_is_logged() {
    let dir = scratch("no-data");
    // The experiments run on after the simulated month's last day of data.
    let (wh, mut parsed) = simulated(&dir, |_, t| t);
    for e in &mut parsed.experiments {
        e.end_date = Some(d("2026-02-15"));
    }
    let job = Job::new(&wh, hub(&dir), JobOptions::default()).expect("job");
    // A day with data: the check passes, the analysis runs.
    let with_data = DailyOptions {
        catch_up: 0,
        wait_for_data: Some(std::time::Duration::ZERO),
        ..DailyOptions::default()
    };
    let report = job.run_daily_with(&parsed, d("2026-01-27"), &[], &with_data, &Quiet);
    assert!(report.success(), "{report:?}");
    assert!(report.analyses > 0);
    // The day after the data ends: nothing analysed, one row per experiment, a failure.
    let before = statistics_tables(&wh);
    let started = std::time::Instant::now();
    let waiting = DailyOptions {
        catch_up: 0,
        wait_for_data: Some(std::time::Duration::from_secs(2)),
        ..DailyOptions::default()
    };
    let report = job.run_daily_with(&parsed, d("2026-01-29"), &[], &waiting, &Quiet);
    assert!(
        started.elapsed() >= std::time::Duration::from_secs(2),
        "it waited"
    );
    assert!(!report.success());
    assert_eq!(report.analyses, 0, "{report:?}");
    assert_eq!(statistics_tables(&wh), before, "no result table written");
    let rows = job.logged(&[], None).expect("logs");
    let kinds = rows
        .get("exception_type")
        .and_then(|c| c.as_text())
        .unwrap()
        .to_vec();
    let messages = rows
        .get("message")
        .and_then(|c| c.as_text())
        .unwrap()
        .to_vec();
    let missing: Vec<&String> = kinds
        .iter()
        .zip(&messages)
        .filter(|(k, _)| k.as_deref() == Some("UpstreamDataMissing"))
        .filter_map(|(_, m)| m.as_ref())
        .collect();
    assert_eq!(missing.len(), report.failures, "{missing:?}");
    assert!(!missing.is_empty());
    assert!(
        missing
            .iter()
            .all(|m| m.contains("no data for 2026-01-29 in sim_") && m.contains("(no rows)")),
        "{missing:?}"
    );
}
