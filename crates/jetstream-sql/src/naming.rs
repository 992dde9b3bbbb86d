//! Table and view names (jetstream `bq_normalize_name` and the naming of §3.9).

use jetstream_config::enums::{AnalysisBasis, AnalysisPeriod};

/// `re.sub(r"[^a-zA-Z0-9_]", "_", name)`: every name derived from a slug.
pub fn bq_normalize_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// `enrollments_<slug>`.
pub fn enrollments_table(slug: &str) -> String {
    format!("enrollments_{}", bq_normalize_name(slug))
}

/// `<slug>_partials_<ds>`: an experiment's daily per-client partials of one data source.
pub fn partials_table(slug: &str, data_source: &str) -> String {
    format!(
        "{}_partials_{}",
        bq_normalize_name(slug),
        bq_normalize_name(data_source)
    )
}

/// `<slug>_partials__exposure_signal`: an experiment's daily per-client counts of the rows
/// meeting its exposure signal (the double underscore keeps it apart from a data source's).
pub fn exposure_partials_table(slug: &str) -> String {
    format!("{}_partials__exposure_signal", bq_normalize_name(slug))
}

/// `<slug>_<basis>[_<ds>]_<period>_<window>`.
pub fn metrics_table(
    slug: &str,
    basis: AnalysisBasis,
    data_source: Option<&str>,
    period: AnalysisPeriod,
    window: usize,
) -> String {
    let ds = data_source
        .map(|d| format!("_{}", bq_normalize_name(d)))
        .unwrap_or_default();
    format!(
        "{}_{}{ds}_{}_{window}",
        bq_normalize_name(slug),
        basis.as_str(),
        period.as_str()
    )
}

/// `statistics_<slug>_<period>_<window>`.
pub fn statistics_table(slug: &str, period: AnalysisPeriod, window: usize) -> String {
    format!(
        "statistics_{}_{}_{window}",
        bq_normalize_name(slug),
        period.as_str()
    )
}

/// `<slug>_<basis>_<suffix>` (metrics view).
pub fn metrics_view(slug: &str, basis: AnalysisBasis, period: AnalysisPeriod) -> String {
    format!(
        "{}_{}_{}",
        bq_normalize_name(slug),
        basis.as_str(),
        period.table_suffix()
    )
}

/// `statistics_<slug>_<suffix>` (statistics view).
pub fn statistics_view(slug: &str, period: AnalysisPeriod) -> String {
    format!(
        "statistics_{}_{}",
        bq_normalize_name(slug),
        period.table_suffix()
    )
}

/// The analysis period of one of `slug`'s window tables — a statistics table
/// `statistics_<slug>_<period>_<n>` or a metrics table `<slug>_<basis>[_<ds>]_<period>_<n>` —
/// or `None` for any other name (enrollments, views, another experiment's look-alike names).
/// Periods are matched whole: `preenrollment_week` is not `week`, `days28` is not `day`.
pub fn window_table_period(slug: &str, table: &str) -> Option<AnalysisPeriod> {
    let norm = bq_normalize_name(slug);
    let rest = table
        .strip_prefix(&format!("statistics_{norm}_"))
        .map(|r| (r, false))
        .or_else(|| table.strip_prefix(&format!("{norm}_")).map(|r| (r, true)))?;
    let (rest, metrics) = rest;
    let rest = if metrics {
        AnalysisBasis::ALL
            .iter()
            .find_map(|b| rest.strip_prefix(&format!("{}_", b.as_str())))?
    } else {
        rest
    };
    // `<...>_<period>_<digits>`: the window index, then the longest period that ends the rest.
    let (head, window) = rest.rsplit_once('_')?;
    if window.is_empty() || !window.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut periods: Vec<AnalysisPeriod> = AnalysisPeriod::ALL.to_vec();
    periods.sort_by_key(|p| std::cmp::Reverse(p.as_str().len()));
    periods.into_iter().find(|p| {
        let name = p.as_str();
        if metrics {
            // a data source may precede the period
            head == name || head.ends_with(&format!("_{name}"))
        } else {
            head == name
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_tables_are_recognised_by_whole_period() {
        use AnalysisPeriod::*;
        let p = |t: &str| window_table_period("my-exp", t);
        assert_eq!(p("statistics_my_exp_week_3"), Some(Week));
        assert_eq!(
            p("statistics_my_exp_preenrollment_week_1"),
            Some(PreenrollmentWeek)
        );
        assert_eq!(p("statistics_my_exp_days28_2"), Some(Days28));
        assert_eq!(p("statistics_my_exp_day_12"), Some(Day));
        assert_eq!(p("my_exp_enrollments_week_1"), Some(Week));
        assert_eq!(
            p("my_exp_exposures_clients_daily_preenrollment_days28_1"),
            Some(PreenrollmentDays28)
        );
        assert_eq!(
            p("my_exp_enrollments_clients_daily_overall_1"),
            Some(Overall)
        );
        assert_eq!(p("my_exp_enrollments_events_day_4"), Some(Day));
        // not window tables of my-exp
        for other in [
            "enrollments_my_exp",
            "statistics_my_exp_weekly",
            "my_exp_enrollments_weekly",
            "statistics_my_exp_v2_week_1",
            "my_exp_v2_enrollments_week_1",
            "statistics_my_exp_week_1_backup",
            "statistics_my_exp_week_",
            "my_exp_other_week_1",
        ] {
            assert_eq!(p(other), None, "{other}");
        }
    }

    #[test]
    fn reference_names() {
        assert_eq!(bq_normalize_name("test-experiment"), "test_experiment");
        assert_eq!(bq_normalize_name("a'b`c;d"), "a_b_c_d");
        assert_eq!(
            enrollments_table("test-experiment"),
            "enrollments_test_experiment"
        );
        assert_eq!(
            metrics_table(
                "test-experiment",
                AnalysisBasis::Exposures,
                None,
                AnalysisPeriod::Week,
                1
            ),
            "test_experiment_exposures_week_1"
        );
        assert_eq!(
            metrics_table(
                "test-experiment",
                AnalysisBasis::Enrollments,
                Some("clients_daily"),
                AnalysisPeriod::PreenrollmentWeek,
                1
            ),
            "test_experiment_enrollments_clients_daily_preenrollment_week_1"
        );
        assert_eq!(
            statistics_table("test-experiment", AnalysisPeriod::Week, 1),
            "statistics_test_experiment_week_1"
        );
        assert_eq!(
            metrics_view(
                "test-experiment",
                AnalysisBasis::Enrollments,
                AnalysisPeriod::Week
            ),
            "test_experiment_enrollments_weekly"
        );
        assert_eq!(
            statistics_view("test-experiment", AnalysisPeriod::Days28),
            "statistics_test_experiment_days28"
        );
    }
}
