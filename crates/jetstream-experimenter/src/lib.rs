//! Experimenter recipes → [`jetstream_config::experiment::Experiment`].
//!
//! Reads the Nimbus recipe shape that the Experimenter v8 API serves (and that the v6/v7
//! example recipes share): `slug`, `appName`, `appId`, `branches[{slug, ratio}]`, `startDate`,
//! `endDate`, `enrollmentEndDate`, `proposedEnrollment`, `referenceBranch`, `bucketConfig`,
//! `outcomes[{slug}]`, `segments[{slug}]`, `isEnrollmentPaused`, `isRollout`, `channel`.
//! Status is derived like the reference: `Live` while `endDate` is absent or not yet reached,
//! `Complete` after.
//!
//! ```
//! let recipe = r#"{"slug": "my-exp", "appName": "fenix", "appId": "org.mozilla.firefox",
//!   "branches": [{"slug": "control", "ratio": 1}, {"slug": "treatment", "ratio": 1}],
//!   "startDate": "2024-01-01", "endDate": null, "proposedEnrollment": 7,
//!   "referenceBranch": "control",
//!   "bucketConfig": {"randomizationUnit": "nimbus_id", "namespace": "n", "start": 0, "count": 100, "total": 10000}}"#;
//! let today = chrono::NaiveDate::from_ymd_opt(2024, 2, 1).unwrap();
//! let experiments = jetstream_experimenter::parse_recipes(recipe, today)?;
//! assert_eq!(experiments[0].normandy_slug, "my-exp");
//! assert_eq!(experiments[0].status.as_deref(), Some("Live"));
//! # Ok::<(), jetstream_experimenter::RecipeError>(())
//! ```

use chrono::NaiveDate;
use jetstream_config::experiment::{Branch, BucketConfig, Experiment};
use serde::Deserialize;

/// A recipe that cannot be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum RecipeError {
    /// The text is not JSON, or not a recipe or an array of recipes.
    #[error("invalid recipe JSON: {0}")]
    Json(String),
    /// A field has an invalid value.
    #[error("recipe {slug}: field {field}: {message}")]
    Field {
        /// The recipe's slug (or `?`).
        slug: String,
        /// The field.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawBranch {
    slug: String,
    #[serde(default)]
    ratio: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawBucket {
    randomization_unit: String,
    #[serde(default)]
    namespace: String,
    #[serde(default)]
    start: i64,
    #[serde(default)]
    count: i64,
    #[serde(default = "default_total")]
    total: i64,
}

fn default_total() -> i64 {
    10_000
}

#[derive(Debug, Deserialize)]
struct SlugRef {
    slug: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawRecipe {
    slug: String,
    #[serde(default)]
    app_name: Option<String>,
    #[serde(default)]
    app_id: Option<String>,
    #[serde(default)]
    branches: Vec<RawBranch>,
    #[serde(default)]
    start_date: Option<String>,
    #[serde(default)]
    end_date: Option<String>,
    #[serde(default)]
    enrollment_end_date: Option<String>,
    #[serde(default)]
    proposed_enrollment: Option<i64>,
    #[serde(default)]
    reference_branch: Option<String>,
    #[serde(default)]
    bucket_config: Option<RawBucket>,
    #[serde(default)]
    outcomes: Option<Vec<SlugRef>>,
    #[serde(default)]
    segments: Option<Vec<SlugRef>>,
    #[serde(default)]
    is_enrollment_paused: Option<bool>,
    #[serde(default)]
    is_rollout: Option<bool>,
    #[serde(default)]
    channel: Option<String>,
}

fn date(
    slug: &str,
    field: &'static str,
    v: &Option<String>,
) -> Result<Option<NaiveDate>, RecipeError> {
    match v.as_deref() {
        None | Some("") => Ok(None),
        Some(s) => {
            // Accept `YYYY-MM-DD` and ISO timestamps (`YYYY-MM-DDTHH:MM:SS...`).
            let day = s.get(..10).unwrap_or(s);
            NaiveDate::parse_from_str(day, "%Y-%m-%d")
                .map(Some)
                .map_err(|_| RecipeError::Field {
                    slug: slug.to_string(),
                    field,
                    message: format!("expected a date YYYY-MM-DD, found {s:?}"),
                })
        }
    }
}

fn convert(raw: RawRecipe, today: NaiveDate) -> Result<Experiment, RecipeError> {
    let slug = raw.slug.clone();
    let start_date = date(&slug, "startDate", &raw.start_date)?;
    let end_date = date(&slug, "endDate", &raw.end_date)?;
    let enrollment_end_date = date(&slug, "enrollmentEndDate", &raw.enrollment_end_date)?;
    let status = match end_date {
        Some(end) if end <= today => "Complete",
        _ => "Live",
    };
    Ok(Experiment {
        experimenter_slug: None,
        normandy_slug: slug,
        experiment_type: "v6".into(),
        status: Some(status.into()),
        branches: raw
            .branches
            .into_iter()
            .map(|b| Branch {
                slug: b.slug,
                ratio: b.ratio.unwrap_or(1),
            })
            .collect(),
        start_date,
        end_date,
        proposed_enrollment: raw.proposed_enrollment,
        reference_branch: raw.reference_branch,
        is_high_population: false,
        app_name: raw.app_name.unwrap_or_else(|| "firefox_desktop".into()),
        app_id: Some(raw.app_id.unwrap_or_else(|| "firefox-desktop".into())),
        bucket_config: raw.bucket_config.map(|b| BucketConfig {
            randomization_unit: b.randomization_unit,
            namespace: b.namespace,
            start: b.start,
            count: b.count,
            total: b.total,
        }),
        is_enrollment_paused: raw.is_enrollment_paused,
        outcomes: raw
            .outcomes
            .unwrap_or_default()
            .into_iter()
            .map(|o| o.slug)
            .collect(),
        segments: raw
            .segments
            .unwrap_or_default()
            .into_iter()
            .map(|o| o.slug)
            .collect(),
        enrollment_end_date,
        channel: raw.channel,
        is_rollout: raw.is_rollout.unwrap_or(false),
    })
}

/// Parse one recipe object or an array of recipes. `today` decides `Live` vs `Complete`.
pub fn parse_recipes(text: &str, today: NaiveDate) -> Result<Vec<Experiment>, RecipeError> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| RecipeError::Json(e.to_string()))?;
    let items = match value {
        serde_json::Value::Array(items) => items,
        obj @ serde_json::Value::Object(_) => vec![obj],
        _ => {
            return Err(RecipeError::Json(
                "expected a recipe object or an array of recipes".into(),
            ));
        }
    };
    items
        .into_iter()
        .map(|item| {
            let raw: RawRecipe =
                serde_json::from_value(item).map_err(|e| RecipeError::Json(e.to_string()))?;
            convert(raw, today)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_example_recipe_parses() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/fixtures/experimenter/mozilla-nimbus-schemas/example-recipes");
        let today = NaiveDate::from_ymd_opt(2026, 11, 26).unwrap_or_default();
        let mut n = 0;
        for sub in ["v6-desktop", "v6-sdk", "v7"] {
            let mut paths: Vec<_> = std::fs::read_dir(root.join(sub))
                .unwrap_or_else(|e| panic!("{sub}: {e}"))
                .map(|e| e.map(|e| e.path()).unwrap_or_default())
                .collect();
            paths.sort();
            for p in paths {
                let text = std::fs::read_to_string(&p).unwrap_or_default();
                let exps =
                    parse_recipes(&text, today).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
                for e in &exps {
                    assert!(!e.normandy_slug.is_empty());
                    assert!(!e.branches.is_empty(), "{}", p.display());
                    assert!(e.start_date.is_some(), "{}", p.display());
                }
                n += exps.len();
            }
        }
        assert_eq!(n, 16);
    }
}
