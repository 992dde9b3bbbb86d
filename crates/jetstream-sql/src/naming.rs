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

#[cfg(test)]
mod tests {
    use super::*;

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
