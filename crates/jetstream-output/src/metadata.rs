//! `metadata/metadata_<slug>.json`: the nimbus `Metadata` document of an analysed experiment
//! (the reference's `ExperimentMetadata.from_config`), compact, fields in the schema's order.

use chrono::{DateTime, NaiveDate, Timelike, Utc};
use jetstream_config::ConfigCollection;
use jetstream_config::resolve::AnalysisConfiguration;
use jetstream_sql::naming;
use serde_json::{Map, Value};

use crate::{OutputError, OutputSink};

/// Where experiment configs live; `external_config.url` points into it.
pub const METRIC_HUB_REPO: &str = "https://github.com/mozilla/metric-hub";

/// Version of the metadata schema written.
pub const METADATA_SCHEMA_VERSION: u32 = 4;

/// Python's `str.title()`: the first cased letter after a non-letter is upper case, the
/// others lower case (`"uri_count_2x"` → `"Uri Count 2X"` after `_` → space).
pub fn python_title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut previous_cased = false;
    for c in s.chars() {
        if previous_cased {
            out.extend(c.to_lowercase());
        } else {
            out.extend(c.to_uppercase());
        }
        previous_cased = c.is_alphabetic();
    }
    out
}

/// Python's `str(datetime)` of an aware UTC time (`2026-11-26 09:41:37+00:00`, microseconds
/// only when non-zero).
fn python_datetime(t: DateTime<Utc>) -> String {
    let micros = t.nanosecond() / 1000;
    let base = t.format("%Y-%m-%d %H:%M:%S").to_string();
    if micros == 0 {
        format!("{base}+00:00")
    } else {
        format!("{base}.{micros:06}+00:00")
    }
}

fn date(d: Option<NaiveDate>) -> Value {
    d.map_or(Value::Null, |d| {
        Value::String(d.format("%Y-%m-%d").to_string())
    })
}

/// The metadata document of `config` (outcomes looked up in `configs` by slug and platform).
pub fn metadata_json(
    config: &AnalysisConfiguration,
    configs: &ConfigCollection,
    analysis_start_time: Option<DateTime<Utc>>,
) -> Value {
    let experiment = &config.experiment;
    let mut metrics = Map::new();
    for summaries in config.metrics.values() {
        for summary in summaries {
            let m = &summary.metric;
            let mut entry = Map::new();
            entry.insert(
                "analysis_bases".into(),
                Value::Array(
                    m.analysis_bases
                        .iter()
                        .map(|b| Value::String(b.as_str().to_string()))
                        .collect(),
                ),
            );
            entry.insert("bigger_is_better".into(), Value::Bool(m.bigger_is_better));
            entry.insert(
                "description".into(),
                Value::String(m.description.clone().unwrap_or_default()),
            );
            let friendly = m
                .friendly_name
                .clone()
                .filter(|f| !f.is_empty())
                .unwrap_or_else(|| python_title(&m.name.replace('_', " ")));
            entry.insert("friendly_name".into(), Value::String(friendly));
            // A later period's summary of the same metric replaces the value but keeps the
            // first position, as a Python dict comprehension does.
            metrics.insert(m.name.clone(), Value::Object(entry));
        }
    }

    let mut outcomes = Map::new();
    for slug in &experiment.experiment.outcomes {
        let Some(outcome) = configs.spec_for_outcome(slug, experiment.app_name()) else {
            continue;
        };
        let mut entry = Map::new();
        // Commit hashes need the metric-hub git history, which a plain folder does not have.
        entry.insert("commit_hash".into(), Value::Null);
        entry.insert(
            "default_metrics".into(),
            Value::Array(
                outcome
                    .default_metrics
                    .iter()
                    .cloned()
                    .map(Value::String)
                    .collect(),
            ),
        );
        entry.insert(
            "description".into(),
            Value::String(outcome.description.clone()),
        );
        entry.insert(
            "friendly_name".into(),
            Value::String(outcome.friendly_name.clone()),
        );
        entry.insert(
            "metrics".into(),
            Value::Array(outcome.metrics.keys().cloned().map(Value::String).collect()),
        );
        entry.insert("slug".into(), Value::String(slug.clone()));
        outcomes.insert(slug.clone(), Value::Object(entry));
    }

    let external_config = if experiment.has_external_config_overrides() {
        let e = &experiment.experiment;
        let mut ext = Map::new();
        let reference = experiment.reference_branch();
        ext.insert(
            "reference_branch".into(),
            match reference {
                Some(r) if Some(r) != e.reference_branch.as_deref() => Value::String(r.to_string()),
                _ => Value::Null,
            },
        );
        let end = experiment.end_date().filter(|d| Some(*d) != e.end_date);
        ext.insert("end_date".into(), date(end));
        let start = experiment.start_date().filter(|d| Some(*d) != e.start_date);
        ext.insert("start_date".into(), date(start));
        let period = experiment.enrollment_period();
        ext.insert(
            "enrollment_period".into(),
            if Some(period) == e.proposed_enrollment {
                Value::Null
            } else {
                Value::from(period)
            },
        );
        ext.insert("skip".into(), Value::Bool(experiment.skip()));
        ext.insert(
            "url".into(),
            Value::String(format!(
                "{METRIC_HUB_REPO}/blob/main/jetstream/{}.toml",
                experiment.normandy_slug()
            )),
        );
        Value::Object(ext)
    } else {
        Value::Null
    };

    let mut doc = Map::new();
    doc.insert(
        "analysis_start_time".into(),
        analysis_start_time.map_or(Value::Null, |t| Value::String(python_datetime(t))),
    );
    doc.insert("external_config".into(), external_config);
    doc.insert("metrics".into(), Value::Object(metrics));
    doc.insert("outcomes".into(), Value::Object(outcomes));
    doc.insert("version_info".into(), Value::Null);
    doc.insert("version_date".into(), Value::Null);
    doc.insert(
        "schema_version".into(),
        Value::from(METADATA_SCHEMA_VERSION),
    );
    Value::Object(doc)
}

/// Write `metadata/metadata_<normalized slug>.json`; private experiments are not exported
/// (returns `None`).
pub fn export_metadata(
    config: &AnalysisConfiguration,
    configs: &ConfigCollection,
    sink: &dyn OutputSink,
    analysis_start_time: Option<DateTime<Utc>>,
) -> Result<Option<String>, OutputError> {
    if config.experiment.spec.is_private {
        return Ok(None);
    }
    let slug = config.experiment.normandy_slug();
    let json = serde_json::to_string(&metadata_json(config, configs, analysis_start_time))
        .map_err(|e| OutputError::Format {
            what: slug.to_string(),
            message: e.to_string(),
        })?;
    let key = format!("metadata/metadata_{}.json", naming::bq_normalize_name(slug));
    sink.put(&key, json.as_bytes())?;
    Ok(Some(key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn title_case_as_python() {
        assert_eq!(python_title("my cool metric"), "My Cool Metric");
        assert_eq!(python_title("uri count 2x"), "Uri Count 2X");
        assert_eq!(python_title("DAU days"), "Dau Days");
        assert_eq!(python_title("ad_clicks"), "Ad_Clicks");
    }

    #[test]
    fn datetimes_as_python_str() {
        let t = DateTime::parse_from_rfc3339("2026-11-26T09:41:37Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(python_datetime(t), "2026-11-26 09:41:37+00:00");
        let t = DateTime::parse_from_rfc3339("2026-11-26T09:41:37.5Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(python_datetime(t), "2026-11-26 09:41:37.500000+00:00");
    }
}
