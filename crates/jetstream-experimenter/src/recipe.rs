//! Experimenter payloads → [`Experiment`].
//!
//! Two shapes are read:
//! * Nimbus recipes (the v8 API; the v6/v7 recipe examples share the fields jetstream reads):
//!   `slug`, `appName`, `appId`, `branches[{slug, ratio}]`, `startDate`, `endDate`,
//!   `enrollmentEndDate`, `proposedEnrollment`, `referenceBranch`, `bucketConfig`,
//!   `outcomes[{slug}]`, `segments[{slug}]`, `isEnrollmentPaused`, `isRollout`, `channel`.
//!   Status is derived like the reference: `Live` while `endDate` is absent or after `today`,
//!   `Complete` otherwise; `type` is `v6`.
//! * Legacy v1 (Normandy-era) experiments: `slug` (Experimenter slug), `normandy_slug`, `type`,
//!   `status`, `start_date`/`end_date` in epoch milliseconds, `proposed_enrollment`,
//!   `variants[{slug, ratio, is_control}]` (the control is the reference branch),
//!   `is_high_population`, `outcomes[{slug}]`.

use chrono::Datelike as _;
use chrono::{DateTime, NaiveDate};
use jetstream_config::experiment::{Branch, BucketConfig, Experiment};
use serde::Deserialize;
use serde_json::Value;

/// A recipe that cannot be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum RecipeError {
    /// The text is not JSON, or not a recipe or an array of recipes.
    #[error("invalid recipe JSON: {0}")]
    Json(String),
    /// One recipe is malformed.
    #[error("recipe {slug}: {message}")]
    Recipe {
        /// The recipe's slug (or `?` when it has none).
        slug: String,
        /// What is wrong, naming the field.
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
struct NimbusRecipe {
    slug: String,
    #[serde(default)]
    app_name: Option<String>,
    #[serde(default)]
    app_id: Option<String>,
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

#[derive(Debug, Deserialize)]
struct V1Variant {
    slug: String,
    #[serde(default)]
    ratio: Option<i64>,
    #[serde(default)]
    is_control: bool,
}

#[derive(Debug, Deserialize)]
struct V1Experiment {
    #[serde(default)]
    slug: Option<String>,
    normandy_slug: Option<String>,
    #[serde(rename = "type")]
    experiment_type: String,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    start_date: Option<f64>,
    #[serde(default)]
    end_date: Option<f64>,
    #[serde(default)]
    proposed_enrollment: Option<i64>,
    #[serde(default)]
    variants: Vec<V1Variant>,
    #[serde(default)]
    is_high_population: Option<bool>,
    #[serde(default)]
    outcomes: Option<Vec<SlugRef>>,
}

fn date(slug: &str, field: &str, v: &Option<String>) -> Result<Option<NaiveDate>, RecipeError> {
    match v.as_deref() {
        None | Some("") => Ok(None),
        Some(s) => {
            // `YYYY-MM-DD`, or an ISO timestamp starting with it.
            let day = s.get(..10).unwrap_or(s);
            NaiveDate::parse_from_str(day, "%Y-%m-%d")
                .map(Some)
                .map_err(|_| RecipeError::Recipe {
                    slug: slug.to_string(),
                    message: format!("field {field}: expected a date YYYY-MM-DD, found {s:?}"),
                })
        }
    }
}

fn epoch_ms(slug: &str, field: &str, v: Option<f64>) -> Result<Option<NaiveDate>, RecipeError> {
    match v {
        None => Ok(None),
        Some(ms) => DateTime::from_timestamp_millis(ms as i64)
            .map(|d| Some(d.date_naive()))
            .ok_or_else(|| RecipeError::Recipe {
                slug: slug.to_string(),
                message: format!("field {field}: {ms} is not a valid epoch-milliseconds timestamp"),
            }),
    }
}

fn slug_of(v: &Value) -> String {
    v.get("slug")
        .and_then(Value::as_str)
        .or_else(|| v.get("normandy_slug").and_then(Value::as_str))
        .unwrap_or("?")
        .to_string()
}

fn nimbus(raw: NimbusRecipe, today: NaiveDate) -> Result<Experiment, RecipeError> {
    let slug = raw.slug.clone();
    if slug.is_empty() {
        return Err(RecipeError::Recipe {
            slug: "?".into(),
            message: "field slug: empty".into(),
        });
    }
    if raw.branches.is_empty() {
        return Err(RecipeError::Recipe {
            slug,
            message: "field branches: no branches".into(),
        });
    }
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
        is_enrollment_paused: Some(raw.is_enrollment_paused.unwrap_or(false)),
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

fn v1(raw: V1Experiment) -> Result<Experiment, RecipeError> {
    let slug = raw
        .normandy_slug
        .clone()
        .or_else(|| raw.slug.clone())
        .unwrap_or_else(|| "?".into());
    let Some(normandy_slug) = raw.normandy_slug.filter(|s| !s.is_empty()) else {
        return Err(RecipeError::Recipe {
            slug,
            message: "field normandy_slug: missing".into(),
        });
    };
    Ok(Experiment {
        experimenter_slug: raw.slug,
        normandy_slug,
        experiment_type: raw.experiment_type,
        status: raw.status,
        reference_branch: raw
            .variants
            .iter()
            .find(|v| v.is_control)
            .map(|v| v.slug.clone()),
        branches: raw
            .variants
            .into_iter()
            .map(|v| Branch {
                slug: v.slug,
                ratio: v.ratio.unwrap_or(1),
            })
            .collect(),
        start_date: epoch_ms(&slug, "start_date", raw.start_date)?,
        end_date: epoch_ms(&slug, "end_date", raw.end_date)?,
        proposed_enrollment: Some(raw.proposed_enrollment.unwrap_or(0)),
        is_high_population: raw.is_high_population.unwrap_or(false),
        app_name: "firefox_desktop".into(),
        app_id: Some("firefox-desktop".into()),
        bucket_config: None,
        is_enrollment_paused: None,
        outcomes: raw
            .outcomes
            .unwrap_or_default()
            .into_iter()
            .map(|o| o.slug)
            .collect(),
        segments: Vec::new(),
        enrollment_end_date: None,
        channel: None,
        is_rollout: false,
    })
}

/// Earliest and latest date a recipe may carry (Experimenter started in 2018).
const DATE_RANGE: (i32, i32) = (2000, 2199);
/// Longest proposed enrollment accepted, in days.
const MAX_PROPOSED_ENROLLMENT: i64 = 3650;

/// The longest slug accepted: its tables (`<slug>_<basis>_<data source>_<period>_<window>`),
/// SQL files and export files (`statistics_<slug>_preenrollment_days28.json`, written through
/// a temporary `.<name>.<pid>.<n>.tmp`) must fit every warehouse and file system (file names
/// of at most 255 bytes). Nimbus slugs are far shorter.
pub const MAX_SLUG_LEN: usize = 120;

/// Whether `s` is a slug as real recipes have them: letters, digits, `-`, `_`, `.`. Nothing
/// that could end a SQL literal or identifier (quotes, backticks, backslash, whitespace, `;`).
pub fn is_safe_slug(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// The boundary check of a parsed recipe: slugs that reach SQL and table names are safe,
/// dates and numbers are in range. The error names the recipe and the field.
pub fn validate(e: &Experiment) -> Result<(), RecipeError> {
    let bad = |field: String, message: String| RecipeError::Recipe {
        slug: e.normandy_slug.clone(),
        message: format!("field {field}: {message}"),
    };
    let slug = |field: String, value: &str| {
        if is_safe_slug(value) {
            Ok(())
        } else {
            Err(bad(
                field,
                format!("{value:?} is not a slug (letters, digits, '-', '_', '.')"),
            ))
        }
    };
    slug("slug".into(), &e.normandy_slug)?;
    if e.normandy_slug.len() > MAX_SLUG_LEN {
        return Err(bad(
            "slug".into(),
            format!(
                "is {} characters long: at most {MAX_SLUG_LEN} (its table and file names must \
                 fit every warehouse and file system)",
                e.normandy_slug.len()
            ),
        ));
    }
    if let Some(s) = &e.experimenter_slug {
        slug("experimenter_slug".into(), s)?;
    }
    for (i, b) in e.branches.iter().enumerate() {
        slug(format!("branches[{i}].slug"), &b.slug)?;
    }
    if let Some(r) = &e.reference_branch {
        slug("referenceBranch".into(), r)?;
        // The comparisons are against it: a name that is no branch would compare nothing.
        if !e.branches.is_empty() && !e.branches.iter().any(|b| &b.slug == r) {
            let names: Vec<&str> = e.branches.iter().map(|b| b.slug.as_str()).collect();
            return Err(bad(
                "referenceBranch".into(),
                format!("{r:?} is not one of the branches ({})", names.join(", ")),
            ));
        }
    }
    for (i, o) in e.outcomes.iter().enumerate() {
        slug(format!("outcomes[{i}].slug"), o)?;
    }
    for (i, o) in e.segments.iter().enumerate() {
        slug(format!("segments[{i}].slug"), o)?;
    }
    slug("appName".into(), &e.app_name)?;
    if let Some(a) = &e.app_id {
        slug("appId".into(), a)?;
    }
    for (field, date) in [
        ("startDate", e.start_date),
        ("endDate", e.end_date),
        ("enrollmentEndDate", e.enrollment_end_date),
    ] {
        if let Some(d) = date
            && !(DATE_RANGE.0..=DATE_RANGE.1).contains(&d.year())
        {
            return Err(bad(
                field.into(),
                format!("{d} is outside {}..={}", DATE_RANGE.0, DATE_RANGE.1),
            ));
        }
    }
    if let Some(p) = e.proposed_enrollment
        && !(0..=MAX_PROPOSED_ENROLLMENT).contains(&p)
    {
        return Err(bad(
            "proposedEnrollment".into(),
            format!("{p} is outside 0..={MAX_PROPOSED_ENROLLMENT} days"),
        ));
    }
    Ok(())
}

/// Parse one recipe object (Nimbus or legacy v1 shape). `today` decides `Live` vs `Complete`.
/// The result is checked with [`validate`].
pub fn parse_recipe(value: &Value, today: NaiveDate) -> Result<Experiment, RecipeError> {
    let e = parse_unchecked(value, today)?;
    validate(&e)?;
    Ok(e)
}

fn parse_unchecked(value: &Value, today: NaiveDate) -> Result<Experiment, RecipeError> {
    let slug = slug_of(value);
    let wrap = |e: serde_json::Error| RecipeError::Recipe {
        slug: slug.clone(),
        message: e.to_string(),
    };
    if !value.is_object() {
        return Err(RecipeError::Recipe {
            slug,
            message: "not a JSON object".into(),
        });
    }
    if value.get("variants").is_some() || value.get("normandy_slug").is_some() {
        let raw: V1Experiment = serde_json::from_value(value.clone()).map_err(wrap)?;
        v1(raw)
    } else {
        let raw: NimbusRecipe = serde_json::from_value(value.clone()).map_err(wrap)?;
        nimbus(raw, today)
    }
}

/// The experiments of a payload, and the recipes that could not be read (with their slug).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Parsed {
    /// Readable experiments, in payload order.
    pub experiments: Vec<Experiment>,
    /// Recipes that were skipped: `(slug, reason)`.
    pub rejected: Vec<(String, String)>,
}

/// Parse a payload: one recipe object or an array of them. Bad recipes are reported in
/// [`Parsed::rejected`] and the others returned; only malformed JSON is an error.
pub fn parse_payload(text: &str, today: NaiveDate) -> Result<Parsed, RecipeError> {
    let value: Value = serde_json::from_str(text).map_err(|e| RecipeError::Json(e.to_string()))?;
    let items = match value {
        Value::Array(items) => items,
        obj @ Value::Object(_) => vec![obj],
        _ => {
            return Err(RecipeError::Json(
                "expected a recipe object or an array of recipes".into(),
            ));
        }
    };
    let mut parsed = Parsed::default();
    for item in &items {
        match parse_recipe(item, today) {
            Ok(e) => parsed.experiments.push(e),
            Err(e) => {
                let (slug, reason) = match e {
                    RecipeError::Recipe { slug, message } => (slug, message),
                    RecipeError::Json(m) => (slug_of(item), m),
                };
                parsed.rejected.push((slug, reason));
            }
        }
    }
    Ok(parsed)
}

/// Parse a payload and fail on the first bad recipe (for callers that want all or nothing).
pub fn parse_recipes(text: &str, today: NaiveDate) -> Result<Vec<Experiment>, RecipeError> {
    let parsed = parse_payload(text, today)?;
    if let Some((slug, message)) = parsed.rejected.into_iter().next() {
        return Err(RecipeError::Recipe { slug, message });
    }
    Ok(parsed.experiments)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 26).unwrap_or_default()
    }

    #[test]
    fn every_example_recipe_parses() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fixtures/experimenter/mozilla-nimbus-schemas/example-recipes");
        let mut n = 0;
        for sub in ["v6-desktop", "v6-sdk", "v7"] {
            let mut paths: Vec<_> = std::fs::read_dir(root.join(sub))
                .unwrap_or_else(|e| panic!("{sub}: {e}"))
                .map(|e| e.map(|e| e.path()).unwrap_or_default())
                .collect();
            paths.sort();
            for p in paths {
                let text = std::fs::read_to_string(&p).unwrap_or_default();
                let exps = parse_recipes(&text, today())
                    .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
                let name = p
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let expected_app = match (sub, name.as_str()) {
                    ("v6-desktop", _) | ("v7", "desktop.json") => "firefox_desktop",
                    (_, n) if n.starts_with("ios") => "firefox_ios",
                    _ => "fenix",
                };
                for e in &exps {
                    assert_eq!(e.app_name, expected_app, "{}", p.display());
                    assert!(!e.branches.is_empty(), "{}", p.display());
                    assert!(e.start_date.is_some(), "{}", p.display());
                    assert_eq!(e.experiment_type, "v6");
                    assert_eq!(
                        e.status.as_deref(),
                        Some("Live"),
                        "no end date: {}",
                        p.display()
                    );
                    let rollout = name.contains("isRollout")
                        || name.contains("is-rollout")
                        || name.contains("descriptionLinks");
                    assert_eq!(e.is_rollout, rollout, "{}", p.display());
                }
                n += exps.len();
            }
        }
        assert_eq!(n, 16);
    }

    #[test]
    fn status_from_end_date() {
        let mk = |end: &str| {
            format!(
                r#"{{"slug": "s", "branches": [{{"slug": "a", "ratio": 1}}], "startDate": "2026-01-01", "endDate": {end}, "proposedEnrollment": 7}}"#
            )
        };
        let e = &parse_recipes(&mk("null"), today()).unwrap()[0];
        assert_eq!(e.status.as_deref(), Some("Live"));
        let e = &parse_recipes(&mk("\"2026-11-26\""), today()).unwrap()[0];
        assert_eq!(e.status.as_deref(), Some("Complete"));
        let e = &parse_recipes(&mk("\"2026-11-27\""), today()).unwrap()[0];
        assert_eq!(e.status.as_deref(), Some("Live"));
    }

    #[test]
    fn legacy_v1_shape() {
        let text = r#"{"slug": "bug-123-pref-flip", "normandy_slug": "pref-flip-123", "type": "pref",
            "status": "Complete", "start_date": 1577836800000, "end_date": 1612137600000,
            "proposed_enrollment": null, "is_high_population": true,
            "variants": [{"slug": "treatment", "ratio": 50, "is_control": false},
                         {"slug": "control", "ratio": 50, "is_control": true}],
            "outcomes": [{"slug": "performance"}]}"#;
        let e = &parse_recipes(text, today()).unwrap()[0];
        assert_eq!(e.normandy_slug, "pref-flip-123");
        assert_eq!(e.experimenter_slug.as_deref(), Some("bug-123-pref-flip"));
        assert_eq!(e.reference_branch.as_deref(), Some("control"));
        assert_eq!(e.start_date, NaiveDate::from_ymd_opt(2020, 1, 1));
        assert_eq!(e.end_date, NaiveDate::from_ymd_opt(2021, 2, 1));
        assert_eq!(e.proposed_enrollment, Some(0));
        assert!(e.is_high_population);
        assert_eq!(e.experiment_type, "pref");
        assert_eq!(e.outcomes, vec!["performance"]);
    }

    #[test]
    fn bad_recipes_are_reported_not_fatal() {
        let text = r#"[{"slug": "good", "branches": [{"slug": "a", "ratio": 1}], "startDate": "2026-01-01"},
                       {"slug": "bad-date", "branches": [{"slug": "a"}], "startDate": "January"},
                       {"slug": null, "branches": []}]"#;
        let p = parse_payload(text, today()).unwrap();
        assert_eq!(p.experiments.len(), 1);
        assert_eq!(p.rejected.len(), 2);
        assert_eq!(p.rejected[0].0, "bad-date");
        assert!(p.rejected[0].1.contains("startDate"));
        assert!(parse_payload("{not json", today()).is_err());
    }
}
