//! Arbitrary recipes never panic the selection, readiness or time-limit code, and what could
//! end a SQL literal or identifier never gets past the recipe boundary.

use chrono::{Datelike as _, NaiveDate};
use jetstream_analysis::check_runnable;
use jetstream_config::enums::AnalysisPeriod;
use jetstream_config::experiment::{Branch, Experiment, ExperimentConfiguration};
use jetstream_config::spec::ExperimentSpec;
use jetstream_experimenter::parse_payload;
use jetstream_experimenter::select::{ConfigOverrides, analysis_dates, daily_selection};
use jetstream_sql::readiness::timelimits_if_ready;
use jetstream_sql::time_limits::TimeLimits;
use proptest::prelude::*;
use serde_json::{Value, json};

/// Any date chrono can hold, or (more often) one near real experiments.
fn date() -> impl Strategy<Value = NaiveDate> {
    let (min, max) = (
        NaiveDate::MIN.num_days_from_ce(),
        NaiveDate::MAX.num_days_from_ce(),
    );
    let near = NaiveDate::from_ymd_opt(2026, 1, 1)
        .map(|d| d.num_days_from_ce())
        .unwrap_or_default();
    prop_oneof![
        2 => near - 3000..near + 3000,
        1 => min..=max,
    ]
    .prop_map(|n| NaiveDate::from_num_days_from_ce_opt(n).unwrap_or_default())
}

/// What a recipe's date field may hold: nothing, a date, junk.
fn date_field() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        date().prop_map(|d| json!(d.format("%Y-%m-%d").to_string())),
        "[0-9T:+-]{0,14}".prop_map(Value::from),
    ]
}

/// Slugs: mostly what real recipes have, sometimes what an attacker would send.
fn slug() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-z0-9][a-z0-9._-]{0,15}",
        1 => "[a-z'`;\\\\ \n\"]{0,8}",
        1 => "[a-z]{100,140}",
    ]
}

fn number() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        (0i64..60).prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
    ]
}

/// A recipe of the Nimbus shape with arbitrary values.
fn recipe() -> impl Strategy<Value = Value> {
    (
        slug(),
        proptest::collection::vec(slug(), 0..4),
        (date_field(), date_field(), date_field()),
        number(),
        any::<bool>(),
        prop_oneof![Just("firefox_desktop"), Just("fenix"), Just("nope")],
    )
        .prop_map(|(s, branches, (start, end, enrollment_end), proposed, rollout, app)| {
            json!({
                "slug": s,
                "appName": app,
                "branches": branches.iter().map(|b| json!({"slug": b, "ratio": 1})).collect::<Vec<_>>(),
                "referenceBranch": branches.first(),
                "startDate": start,
                "endDate": end,
                "enrollmentEndDate": enrollment_end,
                "proposedEnrollment": proposed,
                "isRollout": rollout,
            })
        })
}

/// An experiment built directly (another tool's list; no recipe validation on the way).
fn experiment() -> impl Strategy<Value = Experiment> {
    (
        date(),
        proptest::option::of(date()),
        proptest::option::of(date()),
        proptest::option::of(any::<i64>()),
        any::<bool>(),
    )
        .prop_map(|(start, end, enrollment_end, proposed, live)| {
            let mut e = Experiment::dummy("x", "firefox_desktop", start);
            e.end_date = end;
            e.enrollment_end_date = enrollment_end;
            e.proposed_enrollment = proposed;
            e.status = Some(if live { "Live" } else { "Complete" }.into());
            e
        })
}

/// Everything the daily job asks of an experiment, on `date` and around it.
fn exercise(e: &Experiment, date: NaiveDate) {
    let experiments = vec![e.clone()];
    let _ = daily_selection(&experiments, date, &[], |_| ConfigOverrides::default());
    for spec in [
        ExperimentSpec::default(),
        ExperimentSpec {
            enrollment_period: Some(i64::MAX),
            ..ExperimentSpec::default()
        },
    ] {
        let conf = ExperimentConfiguration::new(e.clone(), spec);
        let _ = check_runnable(&conf, date);
        let _ = conf.last_enrollment_date();
        let mut dates = vec![date];
        for base in [e.start_date, e.end_date, e.enrollment_end_date]
            .into_iter()
            .flatten()
        {
            dates.extend(
                [base.pred_opt(), Some(base), base.succ_opt()]
                    .into_iter()
                    .flatten(),
            );
        }
        for d in dates {
            for p in AnalysisPeriod::ALL {
                let _ = timelimits_if_ready(*p, d, &conf);
            }
        }
    }
    if let Some(start) = e.start_date {
        // a rerun of at most a couple of years (the dates are collected)
        let until = start
            .checked_add_days(chrono::Days::new(800))
            .unwrap_or(start)
            .min(date.max(start));
        let dates = analysis_dates(start, e.end_date, until);
        assert!(dates.len() <= 801);
        for label in ["daily", "weekly", "28_day"] {
            let _ = TimeLimits::for_ts(start, date, label, e.proposed_enrollment.unwrap_or(7));
        }
        let _ = TimeLimits::for_single_analysis_window(
            start,
            date,
            e.proposed_enrollment.unwrap_or(0),
            e.proposed_enrollment.unwrap_or(7),
            e.proposed_enrollment,
        );
    }
}

/// Cases per property: 10,000 in the slow tier (`cargo xtask test`), 500 in a plain run, or
/// `JETSTREAM_FUZZ_CASES` (the fuzzing pass runs 100,000).
fn cases() -> u32 {
    jetstream_test_support::cases(500, 10_000)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn arbitrary_recipes_never_panic_and_only_safe_slugs_pass(
        recipes in proptest::collection::vec(recipe(), 1..4),
        day in date(),
    ) {
        let started = std::time::Instant::now();
        let payload = Value::Array(recipes.clone()).to_string();
        let parsed = parse_payload(&payload, day).expect("a JSON array always parses");
        // Every recipe is either an experiment or rejected with its reason: none is lost.
        prop_assert_eq!(parsed.experiments.len() + parsed.rejected.len(), recipes.len());
        for e in &parsed.experiments {
            let safe = |s: &str| jetstream_experimenter::recipe::is_safe_slug(s);
            prop_assert!(safe(&e.normandy_slug), "{:?}", e.normandy_slug);
            prop_assert!(e.normandy_slug.len() <= jetstream_experimenter::recipe::MAX_SLUG_LEN);
            prop_assert!(
                e.branches.is_empty()
                    || e.reference_branch.as_ref().is_none_or(|r| e.branches.iter().any(|b| &b.slug == r)),
                "the reference branch is a branch"
            );
            prop_assert!(e.branches.iter().all(|b: &Branch| safe(&b.slug)));
            prop_assert!(e.reference_branch.as_deref().is_none_or(safe));
            for d in [e.start_date, e.end_date, e.enrollment_end_date].into_iter().flatten() {
                prop_assert!((2000..2200).contains(&d.year()), "{d}");
            }
            exercise(e, day);
        }
        prop_assert!(started.elapsed() < std::time::Duration::from_secs(5), "{:?}", started.elapsed());
    }

    #[test]
    fn arbitrary_experiments_never_panic_the_date_arithmetic(e in experiment(), day in date()) {
        exercise(&e, day);
    }
}

#[test]
fn hostile_slugs_are_rejected_naming_the_recipe_and_the_field() {
    let today = NaiveDate::from_ymd_opt(2026, 11, 30).unwrap_or_default();
    let recipe = |slug: &str, branch: &str| {
        json!({"slug": slug, "branches": [{"slug": "control", "ratio": 1}, {"slug": branch, "ratio": 1}],
               "startDate": "2026-01-01", "proposedEnrollment": 7})
    };
    let payload = Value::Array(vec![
        recipe("x'; DROP TABLE t; --", "treatment"),
        recipe("good-one", "tre`atment"),
        recipe("ok.slug_2", "treat ment"),
        recipe("fine", "treatment"),
    ])
    .to_string();
    let parsed = parse_payload(&payload, today).expect("parses");
    assert_eq!(parsed.experiments.len(), 1, "the good recipe is kept");
    assert_eq!(parsed.experiments[0].normandy_slug, "fine");
    let reasons: Vec<String> = parsed
        .rejected
        .iter()
        .map(|(s, r)| format!("{s}: {r}"))
        .collect();
    assert!(
        reasons[0].contains("field slug") && reasons[0].contains("DROP TABLE"),
        "{reasons:?}"
    );
    assert!(
        reasons[1].starts_with("good-one: field branches[1].slug"),
        "{reasons:?}"
    );
    assert!(
        reasons[2].starts_with("ok.slug_2: field branches[1].slug"),
        "{reasons:?}"
    );
    // Out-of-range numbers and dates are rejected too.
    let mut big = recipe("big", "treatment");
    big["proposedEnrollment"] = json!(i64::MAX);
    let mut far = recipe("far", "treatment");
    far["startDate"] = json!("9999-12-31");
    let parsed = parse_payload(&Value::Array(vec![big, far]).to_string(), today).expect("parses");
    assert!(parsed.experiments.is_empty());
    assert!(
        parsed.rejected[0].1.contains("proposedEnrollment"),
        "{:?}",
        parsed.rejected
    );
    assert!(
        parsed.rejected[1].1.contains("startDate"),
        "{:?}",
        parsed.rejected
    );
}
