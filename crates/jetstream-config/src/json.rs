//! The JSON view of a resolved analysis (`jetstream resolve-config`), so that other tools and
//! humans can see what will run.

use serde_json::{Map, Value as Json, json};

use crate::resolve::{AnalysisConfiguration, DataSource, Metric, Segment, Summary};
use crate::statistic::PreTreatment;

fn opt<T: Into<Json>>(v: Option<T>) -> Json {
    v.map(Into::into).unwrap_or(Json::Null)
}

fn data_source(ds: &DataSource) -> Json {
    json!({
        "name": ds.name,
        "from_expression": ds.from_expression,
        "experiments_column_type": opt(ds.experiments_column_type.map(|t| t.as_str())),
        "client_id_column": ds.client_id_column,
        "submission_date_column": ds.submission_date_column,
        "default_dataset": ds.default_dataset,
        "analysis_units": ds.analysis_units.iter().map(|u| u.as_str()).collect::<Vec<_>>(),
        "group_id_column": ds.group_id_column,
        "joins": ds.joins.iter().map(|j| json!({
            "data_source": j.data_source.name,
            "relationship": opt(j.relationship.map(|r| r.as_str())),
            "on_expression": j.on_expression,
        })).collect::<Vec<_>>(),
    })
}

fn pre_treatment(p: &PreTreatment) -> Json {
    serde_json::to_value(p).unwrap_or_else(|_| json!({ "name": p.name() }))
}

fn metric_json(m: &Metric, statistics: &[&Summary]) -> Json {
    let mut o = Map::new();
    o.insert("name".into(), json!(m.name));
    o.insert(
        "data_source".into(),
        opt(m.data_source.as_ref().map(data_source)),
    );
    o.insert("select_expression".into(), opt(m.select_expression.clone()));
    o.insert(
        "analysis_bases".into(),
        json!(
            m.analysis_bases
                .iter()
                .map(|b| b.as_str())
                .collect::<Vec<_>>()
        ),
    );
    o.insert(
        "analysis_units".into(),
        json!(
            m.analysis_units
                .iter()
                .map(|u| u.as_str())
                .collect::<Vec<_>>()
        ),
    );
    o.insert(
        "statistics".into(),
        Json::Array(
            statistics
                .iter()
                .map(|s| {
                    json!({
                        "name": s.statistic.name(),
                        "params": s.statistic.params(),
                        "pre_treatments": s.pre_treatments.iter().map(pre_treatment).collect::<Vec<_>>(),
                    })
                })
                .collect(),
        ),
    );
    o.insert(
        "depends_on".into(),
        opt(m
            .depends_on
            .as_ref()
            .map(|d| json!(d.iter().map(|m| m.name.as_str()).collect::<Vec<_>>()))),
    );
    o.insert("friendly_name".into(), opt(m.friendly_name.clone()));
    o.insert("description".into(), opt(m.description.clone()));
    o.insert("bigger_is_better".into(), json!(m.bigger_is_better));
    o.insert("type".into(), json!(m.metric_type));
    Json::Object(o)
}

fn segment(s: &Segment) -> Json {
    json!({
        "name": s.name,
        "select_expression": s.select_expression,
        "friendly_name": s.friendly_name,
        "description": s.description,
        "data_source": {
            "name": s.data_source.name,
            "from_expression": s.data_source.from_expression,
            "window_start": s.data_source.window_start,
            "window_end": s.data_source.window_end,
            "client_id_column": s.data_source.client_id_column,
            "submission_date_column": s.data_source.submission_date_column,
        },
    })
}

impl AnalysisConfiguration {
    /// The resolved analysis as JSON: the experiment with its overrides, and per period the
    /// metrics with their data source, select expression, analysis bases and statistics.
    pub fn to_json(&self) -> Json {
        let e = &self.experiment;
        let date = |d: Option<chrono::NaiveDate>| opt(d.map(|d| d.format("%Y-%m-%d").to_string()));
        let experiment = json!({
            "normandy_slug": e.normandy_slug(),
            "experimenter_slug": e.experiment.experimenter_slug,
            "app_name": e.app_name(),
            "app_id": e.app_id(),
            "type": e.experiment.experiment_type,
            "status": e.status(),
            "branches": e.experiment.branches.iter().map(|b| json!({"slug": b.slug, "ratio": b.ratio})).collect::<Vec<_>>(),
            "reference_branch": e.reference_branch(),
            "start_date": date(e.start_date()),
            "end_date": date(e.end_date()),
            "enrollment_period": e.enrollment_period(),
            "proposed_enrollment": e.proposed_enrollment(),
            "last_enrollment_date": date(e.last_enrollment_date()),
            "analysis_unit": e.analysis_unit().ok().map(|u| u.as_str()),
            "enrollments_query_type": e.enrollments_query_type().as_str(),
            "enrollment_query": e.enrollment_query,
            "sample_size": e.sample_size(),
            "skip": e.skip(),
            "is_private": e.spec.is_private,
            "dataset_id": e.spec.dataset_id,
            "segments": e.segments.iter().map(segment).collect::<Vec<_>>(),
            "exposure_signal": e.exposure_signal.as_ref().map(|x| json!({
                "name": x.name,
                "select_expression": x.select_expression,
                "data_source": data_source(&x.data_source),
                "window_start": x.window_start,
                "window_end": x.window_end,
                "friendly_name": x.friendly_name,
                "description": x.description,
            })),
        });
        let mut periods = Map::new();
        for (period, summaries) in &self.metrics {
            // Group summaries by metric, keeping first-appearance order.
            let mut order: Vec<&str> = Vec::new();
            for s in summaries {
                if !order.contains(&s.metric.name.as_str()) {
                    order.push(&s.metric.name);
                }
            }
            let metrics: Vec<Json> = order
                .iter()
                .map(|name| {
                    let stats: Vec<&Summary> = summaries
                        .iter()
                        .filter(|s| s.metric.name == *name)
                        .collect();
                    metric_json(&stats[0].metric, &stats)
                })
                .collect();
            periods.insert(period.as_str().to_string(), Json::Array(metrics));
        }
        json!({ "experiment": experiment, "periods": periods })
    }
}
