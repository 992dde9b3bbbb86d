//! The enrollments of a preview's generated population (the reference's
//! `sampled_enrollment_query`): every client of a platform active during the enrollment days,
//! in `sample_id < N`, assigned to a branch by a hash of its id and the slug, in proportion to
//! the branch ratios.

use chrono::NaiveDate;

use crate::query::string_literal;

/// Why the population cannot be generated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PopulationError {
    /// No branch, or a branch with a ratio below 1.
    #[error("the preview population needs branches with ratios of at least 1: {0}")]
    Branches(String),
    /// `population_sample_size` outside 1..=100.
    #[error("population sample size {0} is not a percentage of clients between 1 and 100")]
    SampleSize(u32),
}

/// Where a platform's daily active clients are, and how their id and date are read:
/// `(table, id expression, date expression)`; the table is a plain `project.dataset.table`.
pub fn population_table(
    app_name: &str,
    app_id: Option<&str>,
) -> (String, &'static str, &'static str) {
    match (app_name, app_id) {
        ("firefox_desktop", _) | (_, None) => (
            "mozdata.telemetry.clients_daily".into(),
            "client_id",
            "submission_date",
        ),
        (_, Some(id)) => (
            format!(
                "moz-fx-data-shared-prod.{}.baseline",
                id.replace(['.', '-'], "_").to_lowercase()
            ),
            "client_info.client_id",
            "DATE(submission_timestamp)",
        ),
    }
}

/// The generated enrollments (`analysis_id, branch, enrollment_date, num_enrollment_events`)
/// of a preview of `slug` on `app_name`: clients active between `first` and `last` (the
/// enrollment days) with `sample_id < sample_size`, each in the branch its hash falls in.
pub fn population_enrollments_query(
    slug: &str,
    app_name: &str,
    app_id: Option<&str>,
    branches: &[(String, i64)],
    first: NaiveDate,
    last: NaiveDate,
    sample_size: u32,
) -> Result<String, PopulationError> {
    if !(1..=100).contains(&sample_size) {
        return Err(PopulationError::SampleSize(sample_size));
    }
    if branches.is_empty() || branches.iter().any(|(_, r)| *r < 1) {
        let listed: Vec<String> = branches.iter().map(|(b, r)| format!("{b}={r}")).collect();
        return Err(PopulationError::Branches(if listed.is_empty() {
            "none".into()
        } else {
            listed.join(", ")
        }));
    }
    let (table, id, date) = population_table(app_name, app_id);
    let total: i64 = branches.iter().map(|(_, r)| r).sum();
    let bucket = format!(
        "MOD(MOD(FARM_FINGERPRINT(CONCAT({id}, {})), {total}) + {total}, {total})",
        string_literal(slug)
    );
    let mut cases = String::new();
    let mut upto = 0;
    for (branch, ratio) in &branches[..branches.len() - 1] {
        upto += ratio;
        cases.push_str(&format!(
            "\n            WHEN {bucket} < {upto} THEN {}",
            string_literal(branch)
        ));
    }
    let last_branch = string_literal(&branches[branches.len() - 1].0);
    Ok(format!(
        "SELECT
        {id} AS analysis_id,
        CASE{cases}
            ELSE {last_branch}
        END AS branch,
        MIN({date}) AS enrollment_date,
        COUNT(*) AS num_enrollment_events
    FROM `{table}`
    WHERE
        {id} IS NOT NULL
        AND {date} BETWEEN '{first}' AND '{last}'
        AND sample_id < {sample_size}
    GROUP BY analysis_id, branch"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn branches_split_the_hash_by_their_ratios() {
        let q = population_enrollments_query(
            "it's",
            "firefox_desktop",
            Some("firefox-desktop"),
            &[("a".into(), 1), ("b".into(), 2), ("c".into(), 1)],
            d("2026-11-01"),
            d("2026-11-03"),
            5,
        )
        .unwrap();
        assert!(q.contains("FROM `mozdata.telemetry.clients_daily`"), "{q}");
        assert!(
            q.contains("CONCAT(client_id, 'it\\'s')), 4) + 4, 4) < 1 THEN 'a'"),
            "{q}"
        );
        assert!(q.contains(", 4) + 4, 4) < 3 THEN 'b'"), "{q}");
        assert!(q.contains("ELSE 'c'"), "{q}");
        assert!(q.contains("BETWEEN '2026-11-01' AND '2026-11-03'"), "{q}");
        assert!(q.contains("sample_id < 5"), "{q}");
        assert!(!q.contains("profile_group_id"), "{q}");
    }

    #[test]
    fn mobile_platforms_read_their_baseline_pings() {
        let q = population_enrollments_query(
            "s",
            "fenix",
            Some("org.mozilla.firefox"),
            &[("control".into(), 1)],
            d("2026-11-01"),
            d("2026-11-01"),
            1,
        )
        .unwrap();
        assert!(
            q.contains("FROM `moz-fx-data-shared-prod.org_mozilla_firefox.baseline`"),
            "{q}"
        );
        assert!(q.contains("client_info.client_id AS analysis_id"), "{q}");
        assert!(q.contains("ELSE 'control'"), "{q}");
    }

    #[test]
    fn bad_sizes_and_branches_are_refused() {
        let b = [("control".to_string(), 1)];
        let q = |b: &[(String, i64)], n| {
            population_enrollments_query("s", "fenix", None, b, d("2026-11-01"), d("2026-11-01"), n)
        };
        assert_eq!(q(&b, 0), Err(PopulationError::SampleSize(0)));
        assert_eq!(q(&b, 101), Err(PopulationError::SampleSize(101)));
        assert!(matches!(q(&[], 1), Err(PopulationError::Branches(s)) if s == "none"));
        assert!(matches!(
            q(&[("x".into(), 0)], 1),
            Err(PopulationError::Branches(s)) if s == "x=0"
        ));
    }
}
