//! How each metric-hub file kind is read from TOML: a [`Reader`] over the parsed tree that
//! records every error and warning with its file, line and key.

use super::*;

/// Lower-case the keys of a definition table, as the reference does before structuring.
fn lowered(t: &Table) -> Table {
    Table {
        entries: t
            .entries
            .iter()
            .map(|e| crate::tree::Entry {
                key: e.key.to_lowercase(),
                node: e.node.clone(),
            })
            .collect(),
    }
}

/// A string value that must be one of an enum's spellings (`expected` lists them); anything
/// else is an error at the key, and `None`.
fn enum_value<T>(
    r: &mut Reader,
    key: &str,
    node: &Node,
    parse: fn(&str) -> Option<T>,
    expected: &str,
) -> Option<T> {
    let s = r.string(key, node)?;
    let value = parse(&s);
    if value.is_none() {
        r.error(
            ErrorKind::InvalidValue,
            key,
            node,
            format!("expected one of: {expected}"),
        );
    }
    value
}

fn enum_list<T: Copy>(
    r: &mut Reader,
    key: &str,
    node: &Node,
    parse: fn(&str) -> Option<T>,
    expected: &str,
) -> Option<Vec<T>> {
    let items = r.string_list(key, node)?;
    let mut out = Vec::new();
    for (i, (s, line)) in items.iter().enumerate() {
        match parse(s) {
            Some(v) => out.push(v),
            None => r.error_at(
                ErrorKind::InvalidValue,
                &format!("{key}[{i}]"),
                Some(*line),
                format!("{s:?} is not one of: {expected}"),
            ),
        }
    }
    Some(out)
}

fn period_lists(
    r: &mut Reader,
    key: &str,
    t: &Table,
) -> [Vec<MetricReference>; AnalysisPeriod::ALL.len()] {
    let mut periods: [Vec<MetricReference>; AnalysisPeriod::ALL.len()] = Default::default();
    for (i, p) in AnalysisPeriod::ALL.iter().enumerate() {
        let Some(node) = t.get(p.config_key()) else {
            continue;
        };
        let k = join(key, p.config_key());
        if !matches!(node.val, Val::Array(_)) {
            r.error(
                ErrorKind::WrongType,
                &k,
                node,
                format!("{k} should be a list of metrics"),
            );
            continue;
        }
        if let Some(items) = r.string_list(&k, node) {
            periods[i] = items
                .into_iter()
                .map(|(name, line)| MetricReference {
                    name,
                    origin: Origin::new(r.file.clone(), Some(line)),
                })
                .collect();
        }
    }
    periods
}

fn is_period_key(k: &str) -> bool {
    AnalysisPeriod::ALL.iter().any(|p| p.config_key() == k)
}

/// Keys of `[metrics]` that are never definitions.
fn is_reserved_metrics_key(k: &str) -> bool {
    // The reference's MetricsSpec fields; `days28` is silently ignored (only `28_day` is read).
    is_period_key(k) || k == "days28" || k == "definitions"
}

pub(crate) fn read_metric_definition(
    r: &mut Reader,
    key: &str,
    name: &str,
    node: &Node,
) -> Option<MetricDefinition> {
    let t = lowered(r.table(key, node)?);
    let mut def = MetricDefinition::empty(name, r.origin(node));
    let errors_before = r.errors.len();
    for e in &t.entries {
        let k = join(key, &e.key);
        let n = &e.node;
        match e.key.as_str() {
            "statistics" => {
                let Some(st) = r.table(&k, n) else { continue };
                let mut stats = IndexMap::new();
                for s in &st.entries {
                    if let Some(spec) = parse_statistic(r, &join(&k, &s.key), &s.key, &s.node) {
                        stats.insert(s.key.clone(), spec);
                    }
                }
                def.statistics = Some(stats);
            }
            "select_expression" => def.select_expression = r.string(&k, n),
            "data_source" => def.data_source = r.string(&k, n),
            "friendly_name" => def.friendly_name = r.string(&k, n),
            "description" => def.description = r.string(&k, n),
            "bigger_is_better" => def.bigger_is_better = r.boolean(&k, n).unwrap_or(true),
            "analysis_bases" => {
                def.analysis_bases =
                    enum_list(r, &k, n, AnalysisBasis::parse, &AnalysisBasis::expected())
            }
            "type" => def.metric_type = r.string(&k, n),
            "category" => def.category = r.string(&k, n),
            "depends_on" => {
                def.depends_on = r
                    .string_list(&k, n)
                    .map(|v| v.into_iter().map(|(s, _)| s).collect())
            }
            "owner" => def.owner = r.string_or_list(&k, n),
            "deprecated" => def.deprecated = r.boolean(&k, n).unwrap_or(false),
            "level" => {
                let expected = MetricLevel::expected();
                if let Some(l) = enum_value(r, &k, n, MetricLevel::parse, &expected) {
                    def.level = Some(l);
                }
            }
            "analysis_units" => {
                def.analysis_units =
                    enum_list(r, &k, n, AnalysisUnit::parse, &AnalysisUnit::expected())
            }
            "name" => {
                if let Some(s) = r.string(&k, n)
                    && s != name
                {
                    r.unknown_key(&k, n);
                }
            }
            "aggregation" | "column" | "where" | "within_days" | "threshold" | "scale"
            | "cumulative_window" | "incremental_window" | "repeat_windows" => {
                r.error(
                    ErrorKind::InvalidValue,
                    &k,
                    n,
                    "declarative aggregations are not supported yet; write a select_expression instead",
                );
            }
            _ => r.unknown_key(&k, n),
        }
    }
    (r.errors.len() == errors_before).then_some(def)
}

pub(crate) fn read_metrics(r: &mut Reader, key: &str, node: &Node) -> MetricsSpec {
    let Some(t) = r.table(key, node) else {
        return MetricsSpec::default();
    };
    let periods = period_lists(r, key, t);
    let mut definitions = IndexMap::new();
    for e in &t.entries {
        if is_reserved_metrics_key(&e.key) {
            if e.key == "days28" {
                r.unknown_key(&join(key, &e.key), &e.node);
            }
            if e.key == "definitions" && !matches!(e.node.val, Val::Array(_)) {
                r.error(
                    ErrorKind::WrongType,
                    &join(key, &e.key),
                    &e.node,
                    "metrics.definitions should be a list of metrics",
                );
            }
            continue;
        }
        if let Some(def) = read_metric_definition(r, &join(key, &e.key), &e.key, &e.node) {
            definitions.insert(e.key.clone(), def);
        }
    }
    MetricsSpec {
        periods,
        definitions,
    }
}

fn read_data_source(
    r: &mut Reader,
    key: &str,
    name: &str,
    node: &Node,
) -> Option<DataSourceDefinition> {
    let t = lowered(r.table(key, node)?);
    let mut def = DataSourceDefinition {
        name: name.to_string(),
        origin: r.origin(node),
        from_expression: None,
        experiments_column_type: None,
        client_id_column: None,
        submission_date_column: None,
        default_dataset: None,
        build_id_column: None,
        friendly_name: None,
        description: None,
        joins: None,
        columns_as_dimensions: None,
        analysis_units: None,
        group_id_column: None,
        glean_client_id_column: None,
        legacy_client_id_column: None,
    };
    let errors_before = r.errors.len();
    for e in &t.entries {
        let k = join(key, &e.key);
        let n = &e.node;
        match e.key.as_str() {
            "from_expression" => def.from_expression = r.string(&k, n),
            "experiments_column_type" => {
                if let Some(s) = r.string(&k, n) {
                    let ok = s.eq_ignore_ascii_case("none")
                        || crate::enums::ExperimentsColumnType::parse(&s).is_some();
                    if !ok {
                        r.error(
                            ErrorKind::InvalidValue,
                            &k,
                            n,
                            "experiments_column_type must be one of: none, simple, native, glean, events_stream",
                        );
                    }
                    def.experiments_column_type = Some(s);
                }
            }
            "client_id_column" => def.client_id_column = r.string(&k, n),
            "submission_date_column" => def.submission_date_column = r.string(&k, n),
            "default_dataset" => def.default_dataset = r.string(&k, n),
            "build_id_column" => def.build_id_column = r.string(&k, n),
            "friendly_name" => def.friendly_name = r.string(&k, n),
            "description" => def.description = r.string(&k, n),
            "columns_as_dimensions" => def.columns_as_dimensions = r.boolean(&k, n),
            "analysis_units" => {
                def.analysis_units =
                    enum_list(r, &k, n, AnalysisUnit::parse, &AnalysisUnit::expected())
            }
            "group_id_column" => def.group_id_column = r.string(&k, n),
            "glean_client_id_column" => def.glean_client_id_column = r.string(&k, n),
            "legacy_client_id_column" => def.legacy_client_id_column = r.string(&k, n),
            "joins" => {
                let Some(jt) = r.table(&k, n) else { continue };
                let mut joins = IndexMap::new();
                for j in &jt.entries {
                    let jk = join(&k, &j.key);
                    let Some(jtable) = r.table(&jk, &j.node) else {
                        continue;
                    };
                    let mut jd = JoinDefinition {
                        relationship: None,
                        on_expression: None,
                    };
                    for f in &jtable.entries {
                        let fk = join(&jk, &f.key);
                        match f.key.as_str() {
                            "relationship" => {
                                let expected = JoinRelationship::expected();
                                let parse = JoinRelationship::parse;
                                if let Some(rel) = enum_value(r, &fk, &f.node, parse, &expected) {
                                    jd.relationship = Some(rel);
                                }
                            }
                            "on_expression" => jd.on_expression = r.string(&fk, &f.node),
                            _ => r.unknown_key(&fk, &f.node),
                        }
                    }
                    joins.insert(j.key.clone(), jd);
                }
                def.joins = Some(joins);
            }
            "name" => {}
            _ => r.unknown_key(&k, n),
        }
    }
    (r.errors.len() == errors_before).then_some(def)
}

pub(crate) fn read_data_sources(r: &mut Reader, key: &str, node: &Node) -> DataSourcesSpec {
    let Some(t) = r.table(key, node) else {
        return DataSourcesSpec::default();
    };
    let mut definitions = IndexMap::new();
    for e in &t.entries {
        if let Some(def) = read_data_source(r, &join(key, &e.key), &e.key, &e.node) {
            definitions.insert(e.key.clone(), def);
        }
    }
    DataSourcesSpec { definitions }
}

fn required_string(
    r: &mut Reader,
    key: &str,
    t: &Table,
    name: &str,
    line: usize,
) -> Option<String> {
    match t.get(name) {
        Some(n) => r.string(&join(key, name), n),
        None => {
            r.error_at(
                ErrorKind::Missing,
                &join(key, name),
                Some(line),
                format!("`{name}` is required"),
            );
            None
        }
    }
}

pub(crate) fn read_segments(r: &mut Reader, key: &str, node: &Node) -> SegmentsSpec {
    let Some(t) = r.table(key, node) else {
        return SegmentsSpec::default();
    };
    let mut spec = SegmentsSpec::default();
    for e in &t.entries {
        let k = join(key, &e.key);
        if e.key == "data_sources" {
            let Some(dst) = r.table(&k, &e.node) else {
                continue;
            };
            for d in &dst.entries {
                let dk = join(&k, &d.key);
                let Some(raw) = r.table(&dk, &d.node) else {
                    continue;
                };
                let dt = lowered(raw);
                let before = r.errors.len();
                let from_expression = required_string(r, &dk, &dt, "from_expression", d.node.line);
                let mut def = SegmentDataSourceDefinition {
                    name: d.key.clone(),
                    origin: r.origin(&d.node),
                    from_expression: from_expression.unwrap_or_default(),
                    window_start: 0,
                    window_end: 0,
                    client_id_column: None,
                    submission_date_column: None,
                    default_dataset: None,
                    group_id_column: None,
                    glean_client_id_column: None,
                    legacy_client_id_column: None,
                };
                for f in &dt.entries {
                    let fk = join(&dk, &f.key);
                    let n = &f.node;
                    match f.key.as_str() {
                        "from_expression" | "name" => {}
                        "window_start" => def.window_start = r.integer(&fk, n).unwrap_or(0),
                        "window_end" => def.window_end = r.integer(&fk, n).unwrap_or(0),
                        "client_id_column" => def.client_id_column = r.string(&fk, n),
                        "submission_date_column" => def.submission_date_column = r.string(&fk, n),
                        "default_dataset" => def.default_dataset = r.string(&fk, n),
                        "group_id_column" => def.group_id_column = r.string(&fk, n),
                        "glean_client_id_column" => def.glean_client_id_column = r.string(&fk, n),
                        "legacy_client_id_column" => def.legacy_client_id_column = r.string(&fk, n),
                        _ => r.unknown_key(&fk, n),
                    }
                }
                if r.errors.len() == before {
                    spec.data_sources.insert(d.key.clone(), def);
                }
            }
            continue;
        }
        let Some(raw) = r.table(&k, &e.node) else {
            continue;
        };
        let st = lowered(raw);
        let before = r.errors.len();
        let data_source = required_string(r, &k, &st, "data_source", e.node.line);
        let select_expression = required_string(r, &k, &st, "select_expression", e.node.line);
        let mut def = SegmentDefinition {
            name: e.key.clone(),
            origin: r.origin(&e.node),
            data_source: data_source.unwrap_or_default(),
            select_expression: select_expression.unwrap_or_default(),
            friendly_name: None,
            description: None,
        };
        for f in &st.entries {
            let fk = join(&k, &f.key);
            match f.key.as_str() {
                "data_source" | "select_expression" | "name" => {}
                "friendly_name" => def.friendly_name = r.string(&fk, &f.node),
                "description" => def.description = r.string(&fk, &f.node),
                _ => r.unknown_key(&fk, &f.node),
            }
        }
        if r.errors.len() == before {
            spec.definitions.insert(e.key.clone(), def);
        }
    }
    spec
}

fn read_parameter_value(r: &mut Reader, key: &str, node: &Node) -> Option<ParameterValue> {
    match &node.val {
        Val::Str(s) => Some(ParameterValue::Str(s.clone())),
        Val::Table(t) => {
            let mut m = IndexMap::new();
            for e in &t.entries {
                let k = join(key, &e.key);
                let v = match &e.node.val {
                    Val::Str(s) => s.clone(),
                    Val::Int(i) => i.to_string(),
                    Val::Float(f) => format!("{f:?}"),
                    Val::Bool(b) => {
                        if *b {
                            "True".into()
                        } else {
                            "False".into()
                        }
                    }
                    _ => {
                        r.error(ErrorKind::WrongType, &k, &e.node, "expected a string");
                        continue;
                    }
                };
                m.insert(e.key.clone(), v);
            }
            Some(ParameterValue::ByBranch(m))
        }
        _ => {
            r.error(
                ErrorKind::WrongType,
                key,
                node,
                format!(
                    "expected a string or a table of branch = value, found {}",
                    node.val.type_name()
                ),
            );
            None
        }
    }
}

pub(crate) fn read_parameters(r: &mut Reader, key: &str, node: &Node) -> ParametersSpec {
    let Some(t) = r.table(key, node) else {
        return ParametersSpec::default();
    };
    let mut out = ParametersSpec::new();
    for e in &t.entries {
        let k = join(key, &e.key);
        let Some(raw) = r.table(&k, &e.node) else {
            continue;
        };
        let pt = lowered(raw);
        let mut def = ParameterDefinition {
            name: e.key.clone(),
            friendly_name: None,
            description: None,
            value: None,
            distinct_by_branch: false,
            default: None,
        };
        for f in &pt.entries {
            let fk = join(&k, &f.key);
            match f.key.as_str() {
                "friendly_name" => def.friendly_name = r.string(&fk, &f.node),
                "description" => def.description = r.string(&fk, &f.node),
                "value" => def.value = read_parameter_value(r, &fk, &f.node),
                "default" => def.default = read_parameter_value(r, &fk, &f.node),
                "distinct_by_branch" => {
                    def.distinct_by_branch = r.boolean(&fk, &f.node).unwrap_or(false)
                }
                "name" => {}
                _ => r.unknown_key(&fk, &f.node),
            }
        }
        out.insert(e.key.clone(), def);
    }
    out
}

fn read_date(r: &mut Reader, key: &str, node: &Node) -> Option<NaiveDate> {
    let s = match &node.val {
        Val::Str(s) => s.clone(),
        Val::Datetime(d) => d.clone(),
        _ => {
            r.error(
                ErrorKind::WrongType,
                key,
                node,
                "expected a date string \"YYYY-MM-DD\"",
            );
            return None;
        }
    };
    match NaiveDate::parse_from_str(&s, "%Y-%m-%d") {
        Ok(d) => Some(d),
        Err(_) => {
            r.error(
                ErrorKind::InvalidValue,
                key,
                node,
                "expected a date \"YYYY-MM-DD\"",
            );
            None
        }
    }
}

fn read_window_limit(r: &mut Reader, key: &str, node: &Node) -> Option<WindowLimit> {
    match &node.val {
        Val::Str(s) => match AnalysisWindow::parse(s) {
            Some(w) => Some(WindowLimit::Named(w)),
            None => match s.trim().parse::<i64>() {
                Ok(i) => Some(WindowLimit::Days(i)),
                Err(_) => {
                    r.error(
                        ErrorKind::InvalidValue,
                        key,
                        node,
                        format!(
                            "expected an integer or one of: {}",
                            AnalysisWindow::expected()
                        ),
                    );
                    None
                }
            },
        },
        _ => r.integer(key, node).map(WindowLimit::Days),
    }
}

fn read_exposure_signal(
    r: &mut Reader,
    key: &str,
    node: &Node,
) -> Option<ExposureSignalDefinition> {
    let t = r.table(key, node)?;
    let before = r.errors.len();
    let mut get = |name: &str| required_string(r, key, t, name, node.line).unwrap_or_default();
    let name = get("name");
    let data_source = get("data_source");
    let select_expression = get("select_expression");
    let friendly_name = get("friendly_name");
    let description = get("description");
    let mut def = ExposureSignalDefinition {
        name,
        origin: r.origin(node),
        data_source,
        select_expression,
        friendly_name,
        description,
        window_start: None,
        window_end: None,
    };
    for e in &t.entries {
        let k = join(key, &e.key);
        match e.key.as_str() {
            "name" | "data_source" | "select_expression" | "friendly_name" | "description" => {}
            "window_start" => def.window_start = read_window_limit(r, &k, &e.node),
            "window_end" => def.window_end = read_window_limit(r, &k, &e.node),
            _ => r.unknown_key(&k, &e.node),
        }
    }
    (r.errors.len() == before).then_some(def)
}

pub(crate) fn read_experiment(r: &mut Reader, key: &str, node: &Node) -> ExperimentSpec {
    let mut spec = ExperimentSpec::default();
    let Some(t) = r.table(key, node) else {
        return spec;
    };
    for e in &t.entries {
        let k = join(key, &e.key);
        let n = &e.node;
        match e.key.as_str() {
            "enrollment_query" => spec.enrollment_query = r.string(&k, n),
            "enrollment_period" => {
                spec.enrollment_period = r.integer(&k, n);
                if spec
                    .enrollment_period
                    .is_some_and(|p| !(0..=3650).contains(&p))
                {
                    r.error(
                        ErrorKind::InvalidValue,
                        &k,
                        n,
                        "must be between 0 and 3650 days",
                    );
                    spec.enrollment_period = None;
                }
            }
            "reference_branch" => spec.reference_branch = r.string(&k, n),
            "start_date" => spec.start_date = read_date(r, &k, n),
            "end_date" => spec.end_date = read_date(r, &k, n),
            "segments" => {
                spec.segments = r
                    .string_list(&k, n)
                    .map(|v| v.into_iter().map(|(s, _)| s).collect())
                    .unwrap_or_default()
            }
            "outcomes" => {
                spec.outcomes = r
                    .string_list(&k, n)
                    .map(|v| v.into_iter().map(|(s, _)| s).collect())
                    .unwrap_or_default()
            }
            "skip" => spec.skip = r.boolean(&k, n).unwrap_or(false),
            "exposure_signal" => spec.exposure_signal = read_exposure_signal(r, &k, n),
            "is_private" => spec.is_private = r.boolean(&k, n).unwrap_or(false),
            "dataset_id" => spec.dataset_id = r.string(&k, n),
            "sample_size" => {
                spec.sample_size = r.integer(&k, n);
                if spec.sample_size.is_some_and(|s| !(0..=100).contains(&s)) {
                    r.error(
                        ErrorKind::InvalidValue,
                        &k,
                        n,
                        "sample_size is a percentage of clients (0 to 100)",
                    );
                }
            }
            "analysis_unit" => {
                let expected = AnalysisUnit::expected();
                if let Some(u) = enum_value(r, &k, n, AnalysisUnit::parse, &expected) {
                    spec.analysis_unit = Some(u);
                }
            }
            "enrollments_query_type" => {
                let expected = EnrollmentsQueryType::expected();
                let parse = EnrollmentsQueryType::parse;
                if let Some(q) = enum_value(r, &k, n, parse, &expected) {
                    spec.enrollments_query_type = Some(q);
                }
            }
            _ => r.unknown_key(&k, n),
        }
    }
    if spec.is_private && spec.dataset_id.is_none() {
        r.error_at(
            ErrorKind::Missing,
            &join(key, "dataset_id"),
            Some(node.line),
            "dataset_id must be set to a custom dataset for private experiments",
        );
    }
    spec
}

pub(crate) fn read_functions(r: &mut Reader, key: &str, node: &Node) -> FunctionsSpec {
    let Some(t) = r.table(key, node) else {
        return FunctionsSpec::default();
    };
    let mut out = FunctionsSpec::new();
    for e in &t.entries {
        let k = join(key, &e.key);
        let Some(ft) = r.table(&k, &e.node) else {
            continue;
        };
        let Some(definition) = required_string(r, &k, ft, "definition", e.node.line) else {
            continue;
        };
        let mut f = FunctionDefinition {
            definition,
            friendly_name: None,
            description: None,
        };
        for x in &ft.entries {
            let xk = join(&k, &x.key);
            match x.key.as_str() {
                "definition" => {}
                "friendly_name" => f.friendly_name = r.string(&xk, &x.node),
                "description" => f.description = r.string(&xk, &x.node),
                _ => r.unknown_key(&xk, &x.node),
            }
        }
        out.insert(e.key.clone(), f);
    }
    out
}

/// Reject unknown top-level keys.
pub(crate) fn check_top_level(r: &mut Reader, t: &Table) {
    check_top_level_with(r, t, &[]);
}

fn check_top_level_with(r: &mut Reader, t: &Table, extra: &[&str]) {
    for e in &t.entries {
        if !TOP_LEVEL_KEYS.contains(&e.key.as_str()) && !extra.contains(&e.key.as_str()) {
            r.error(
                ErrorKind::UnknownKey,
                &e.key,
                &e.node,
                format!(
                    "Unexpected config key found (allowed top-level keys: {})",
                    TOP_LEVEL_KEYS.join(", ")
                ),
            );
        }
    }
}

/// Read an experiment config or a defaults file.
pub(crate) fn read_analysis_spec(r: &mut Reader, t: &Table) -> AnalysisSpec {
    check_top_level(r, t);
    let mut spec = AnalysisSpec::default();
    for e in &t.entries {
        match e.key.as_str() {
            "metrics" => spec.metrics = read_metrics(r, "metrics", &e.node),
            "data_sources" => spec.data_sources = read_data_sources(r, "data_sources", &e.node),
            "segments" => spec.segments = read_segments(r, "segments", &e.node),
            "parameters" => spec.parameters = read_parameters(r, "parameters", &e.node),
            "experiment" => spec.experiment = read_experiment(r, "experiment", &e.node),
            "friendly_name" | "description" => {
                r.string(&e.key, &e.node);
            }
            _ => {}
        }
    }
    spec
}

/// Read a definitions file.
pub(crate) fn read_definition_spec(r: &mut Reader, t: &Table) -> DefinitionSpec {
    check_top_level(r, t);
    let mut spec = DefinitionSpec::default();
    for e in &t.entries {
        match e.key.as_str() {
            "metrics" => spec.metrics = read_metrics(r, "metrics", &e.node),
            "data_sources" => spec.data_sources = read_data_sources(r, "data_sources", &e.node),
            "segments" => spec.segments = read_segments(r, "segments", &e.node),
            "parameters" => spec.parameters = read_parameters(r, "parameters", &e.node),
            _ => {}
        }
    }
    spec
}

/// Read an outcome snippet.
pub(crate) fn read_outcome_spec(r: &mut Reader, t: &Table) -> OutcomeSpec {
    check_top_level_with(r, t, &["default_metrics"]);
    let mut spec = OutcomeSpec {
        periods: period_lists(r, "", t),
        ..OutcomeSpec::default()
    };
    for name in ["friendly_name", "description"] {
        match t.get(name) {
            Some(n) => {
                let v = r.string(name, n).unwrap_or_default();
                if name == "friendly_name" {
                    spec.friendly_name = v;
                } else {
                    spec.description = v;
                }
            }
            None => r.error_at(
                ErrorKind::Missing,
                name,
                Some(1),
                format!("outcomes require a top-level `{name}`"),
            ),
        }
    }
    for e in &t.entries {
        match e.key.as_str() {
            "metrics" => {
                let Some(mt) = r.table("metrics", &e.node) else {
                    continue;
                };
                for m in &mt.entries {
                    if let Some(def) =
                        read_metric_definition(r, &join("metrics", &m.key), &m.key, &m.node)
                    {
                        spec.metrics.insert(m.key.clone(), def);
                    }
                }
            }
            "data_sources" => spec.data_sources = read_data_sources(r, "data_sources", &e.node),
            "parameters" => spec.parameters = read_parameters(r, "parameters", &e.node),
            "default_metrics" => {
                if let Some(items) = r.string_list("default_metrics", &e.node) {
                    for (i, (name, line)) in items.iter().enumerate() {
                        let in_table = t
                            .get("metrics")
                            .and_then(|m| match &m.val {
                                Val::Table(mt) => mt.get(name),
                                _ => None,
                            })
                            .is_some();
                        if !spec.metrics.contains_key(name) && !in_table {
                            r.error_at(
                                ErrorKind::NotFound,
                                &format!("default_metrics[{i}]"),
                                Some(*line),
                                format!("Default metric {name} is not defined in outcome."),
                            );
                        }
                    }
                    spec.default_metrics = items.into_iter().map(|(s, _)| s).collect();
                }
            }
            _ => {}
        }
    }
    spec
}

/// Parse a TOML text with a reader for `file`.
pub(crate) fn parse_text(text: &str, file: Option<&Path>) -> Result<(Table, Reader), ConfigError> {
    let file: Option<Arc<Path>> = file.map(Arc::from);
    let table = crate::tree::parse_toml(text).map_err(|e| match &file {
        Some(f) => e.in_file(f),
        None => e,
    })?;
    Ok((table, Reader::new(file)))
}
