//! BigQuery SQL → DuckDB SQL, by rewriting the sqlparser AST (never by string replacement).
//!
//! | BigQuery | DuckDB |
//! |---|---|
//! | `` `project.dataset.table` `` | `"project"."dataset"."table"` (catalog.schema.table) |
//! | `` `col` `` | `"col"` |
//! | `COUNTIF(x)` | `coalesce(count_if(x), 0)` |
//! | `LOGICAL_OR/AND(x)` | `bool_or/bool_and(x)` |
//! | `SAFE_CAST(x AS T)` | `TRY_CAST(x AS T)` |
//! | `SAFE_DIVIDE(a, b)` | `a / NULLIF(b, 0)` |
//! | `FARM_FINGERPRINT(x)` | `CAST((hash(x) >> 1) AS BIGINT)` (another hash: for bucketing only) |
//! | `IF(c, a, b)` | `CASE WHEN c THEN a ELSE b END` |
//! | `DATE_DIFF(a, b, DAY)` | `date_diff('day', b, a)` |
//! | `DATE_ADD/DATE_SUB(d, INTERVAL n DAY)` | `CAST(CAST(d AS DATE) ± to_days(CAST(n AS BIGINT)) AS DATE)` |
//! | `DATE(x)` | `CAST(x AS DATE)` |
//! | `DATE_TRUNC(d, MONTH)` | `date_trunc('month', d)` |
//! | `JSON_VALUE`, `JSON_EXTRACT_SCALAR` | `json_extract_string` |
//! | `SAFE.F(...)` | `F(...)` |
//! | `* EXCEPT (a, b)` | `* EXCLUDE (a, b)` |
//! | `arr[OFFSET(i)]`, `arr[SAFE_OFFSET(i)]` | `arr[i + 1]` |
//! | `INT64`, `FLOAT64`, `STRING`, `BOOL`, `NUMERIC`, `BYTES` | `BIGINT`, `DOUBLE`, `VARCHAR`, `BOOLEAN`, `DECIMAL(38, 9)`, `BLOB` |
//! | `mozfun.<group>.<name>(...)` | `mozfun_<group>_<name>(...)`: macros from [`MOZFUN_MACROS`] |
//!
//! `GROUP BY ALL`, `QUALIFY`, `UNNEST`, structs and `EXCEPT` set operations are DuckDB syntax
//! already. Constructs that have no translation are reported with [`TranslateError`].

use std::ops::ControlFlow;

use sqlparser::ast::{
    BinaryOperator, CaseWhen, CastKind, DataType, DateTimeField, ExactNumberInfo,
    ExcludeSelectItem, Expr, Function, FunctionArg, FunctionArgExpr, FunctionArgumentList,
    FunctionArguments, Ident, ObjectName, ObjectNamePart, SelectItem, Statement, Value, VisitorMut,
};
use sqlparser::dialect::BigQueryDialect;
use sqlparser::parser::Parser;

/// Why a query cannot be translated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TranslateError {
    /// The BigQuery text does not parse.
    #[error("BigQuery SQL does not parse: {0}")]
    Parse(String),
    /// A construct has no DuckDB equivalent here.
    #[error("no DuckDB translation for {0}")]
    Unsupported(String),
}

/// DuckDB macros standing in for the `mozfun` UDFs that metric-hub's definitions call. Maps are
/// lists of `{key, value}` structs, as BigQuery's repeated key/value records.
pub const MOZFUN_MACROS: &[(&str, &str)] = &[
    (
        "mozfun_map_get_key",
        "CREATE OR REPLACE MACRO mozfun_map_get_key(m, k) AS (list_filter(m, lambda x: x.key = k))[1].value",
    ),
    (
        "mozfun_map_extract_keyed_scalar_sum",
        "CREATE OR REPLACE MACRO mozfun_map_extract_keyed_scalar_sum(m) AS list_sum(list_transform(m, lambda x: x.value))",
    ),
    (
        "mozfun_hist_extract",
        "CREATE OR REPLACE MACRO mozfun_hist_extract(h) AS {'values': list_transform(json_keys(json_extract(h, '$.values')), lambda k: {'key': CAST(k AS BIGINT), 'value': CAST(json_extract_string(h, '$.values.' || k) AS BIGINT)}), 'sum': CAST(json_extract_string(h, '$.sum') AS BIGINT)}",
    ),
    (
        "mozfun_hist_threshold_count",
        "CREATE OR REPLACE MACRO mozfun_hist_threshold_count(h, t) AS list_sum(list_transform(list_filter(mozfun_hist_extract(h)['values'], lambda x: x.key >= t), lambda x: x.value))",
    ),
    (
        "mozfun_bits28_days_since_seen",
        "CREATE OR REPLACE MACRO mozfun_bits28_days_since_seen(b) AS CASE WHEN b = 0 THEN NULL ELSE 27 - CAST(floor(log2(b & -b)) AS BIGINT) END",
    ),
    (
        "mozfun_norm_extract_version",
        "CREATE OR REPLACE MACRO mozfun_norm_extract_version(v, part) AS TRY_CAST(string_split(v, '.')[CASE part WHEN 'major' THEN 1 WHEN 'minor' THEN 2 ELSE 3 END] AS BIGINT)",
    ),
    (
        "mozfun_norm_truncate_version",
        "CREATE OR REPLACE MACRO mozfun_norm_truncate_version(v, part) AS TRY_CAST(string_split(v, '.')[1] AS DOUBLE)",
    ),
    (
        "mozfun_norm_os",
        "CREATE OR REPLACE MACRO mozfun_norm_os(os) AS CASE WHEN os ILIKE 'windows%' THEN 'Windows' WHEN os ILIKE 'darwin%' THEN 'Mac' WHEN os ILIKE 'linux%' THEN 'Linux' ELSE os END",
    ),
    (
        "mozfun_norm_fenix_build_to_datetime",
        "CREATE OR REPLACE MACRO mozfun_norm_fenix_build_to_datetime(b) AS TRY_CAST(b AS TIMESTAMP)",
    ),
    (
        "mozfun_norm_windows_version_info",
        "CREATE OR REPLACE MACRO mozfun_norm_windows_version_info(os, v, build) AS CAST(v AS VARCHAR)",
    ),
    (
        "mozfun_stats_mode_last",
        "CREATE OR REPLACE MACRO mozfun_stats_mode_last(l) AS list_last(l)",
    ),
];

fn name_of(o: &ObjectName) -> Vec<String> {
    o.0.iter()
        .flat_map(|p| match p {
            ObjectNamePart::Identifier(i) => {
                i.value.split('.').map(str::to_string).collect::<Vec<_>>()
            }
            ObjectNamePart::Function(f) => vec![f.name.value.clone()],
        })
        .collect()
}

fn plain(name: &str) -> ObjectName {
    ObjectName(vec![ObjectNamePart::Identifier(Ident::new(name))])
}

/// DuckDB's reserved keywords (its grammar's reserved and type/function-name classes): a
/// dataset or column named `full` or `order` must be quoted.
const DUCKDB_RESERVED: &[&str] = &[
    "all",
    "analyse",
    "analyze",
    "and",
    "anti",
    "any",
    "array",
    "as",
    "asc",
    "asof",
    "asymmetric",
    "authorization",
    "binary",
    "both",
    "case",
    "cast",
    "check",
    "collate",
    "collation",
    "column",
    "concurrently",
    "constraint",
    "create",
    "cross",
    "default",
    "deferrable",
    "desc",
    "describe",
    "distinct",
    "do",
    "else",
    "end",
    "except",
    "false",
    "fetch",
    "for",
    "foreign",
    "freeze",
    "from",
    "full",
    "generated",
    "glob",
    "grant",
    "group",
    "having",
    "ilike",
    "in",
    "initially",
    "inner",
    "intersect",
    "into",
    "is",
    "isnull",
    "join",
    "lateral",
    "leading",
    "left",
    "like",
    "limit",
    "map",
    "natural",
    "not",
    "notnull",
    "null",
    "offset",
    "on",
    "only",
    "or",
    "order",
    "outer",
    "overlaps",
    "pivot",
    "pivot_longer",
    "pivot_wider",
    "placing",
    "positional",
    "primary",
    "qualify",
    "references",
    "returning",
    "right",
    "select",
    "semi",
    "show",
    "similar",
    "some",
    "struct",
    "summarize",
    "symmetric",
    "table",
    "tablesample",
    "then",
    "to",
    "trailing",
    "true",
    "try_cast",
    "union",
    "unique",
    "unpivot",
    "using",
    "variadic",
    "verbose",
    "when",
    "where",
    "window",
    "with",
];

fn needs_quotes(s: &str) -> bool {
    let mut chars = s.chars();
    !(chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_'))
        || DUCKDB_RESERVED.contains(&s.to_ascii_lowercase().as_str())
}

fn ident(s: &str) -> Ident {
    if needs_quotes(s) {
        Ident::with_quote('"', s)
    } else {
        Ident::new(s)
    }
}

fn func(name: &str, args: Vec<Expr>) -> Expr {
    Expr::Function(Function {
        name: plain(name),
        uses_odbc_syntax: false,
        parameters: FunctionArguments::None,
        args: FunctionArguments::List(FunctionArgumentList {
            duplicate_treatment: None,
            args: args
                .into_iter()
                .map(|e| FunctionArg::Unnamed(FunctionArgExpr::Expr(e)))
                .collect(),
            clauses: Vec::new(),
        }),
        filter: None,
        null_treatment: None,
        over: None,
        within_group: Vec::new(),
    })
}

fn string(s: &str) -> Expr {
    Expr::Value(Value::SingleQuotedString(s.to_string()).into())
}

fn cast(e: Expr, data_type: DataType) -> Expr {
    Expr::Cast {
        kind: CastKind::Cast,
        expr: Box::new(e),
        data_type,
        format: None,
    }
}

fn args_of(f: &Function) -> Option<Vec<Expr>> {
    match &f.args {
        FunctionArguments::List(l) => l
            .args
            .iter()
            .map(|a| match a {
                FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e.clone()),
                _ => None,
            })
            .collect(),
        FunctionArguments::None => Some(Vec::new()),
        FunctionArguments::Subquery(_) => None,
    }
}

fn date_part(e: &Expr) -> Option<String> {
    match e {
        Expr::Identifier(i) => Some(i.value.to_lowercase()),
        Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) => Some(s.to_lowercase()),
            _ => None,
        },
        _ => None,
    }
}

fn field_name(f: &DateTimeField) -> Option<&'static str> {
    Some(match f {
        DateTimeField::Day | DateTimeField::Days => "day",
        DateTimeField::Week(_) | DateTimeField::Weeks => "week",
        DateTimeField::Month | DateTimeField::Months => "month",
        DateTimeField::Year | DateTimeField::Years => "year",
        DateTimeField::Hour | DateTimeField::Hours => "hour",
        DateTimeField::Minute | DateTimeField::Minutes => "minute",
        DateTimeField::Second | DateTimeField::Seconds => "second",
        DateTimeField::Quarter => "quarter",
        _ => return None,
    })
}

fn map_type(t: &DataType) -> Option<DataType> {
    Some(match t {
        DataType::Int64 => DataType::BigInt(None),
        DataType::Float64 => DataType::Double(ExactNumberInfo::None),
        DataType::String(_) => DataType::Varchar(None),
        DataType::Bool => DataType::Boolean,
        DataType::Numeric(_) | DataType::BigNumeric(_) => {
            DataType::Decimal(ExactNumberInfo::PrecisionAndScale(38, 9))
        }
        DataType::Bytes(_) => DataType::Blob(None),
        _ => return None,
    })
}

/// `AGG(x IGNORE NULLS)` → `AGG(x) FILTER (WHERE x IS NOT NULL)`;
/// `ARRAY_AGG(x ORDER BY y LIMIT n)` → `list_slice(array_agg(x ORDER BY y), 1, n)`.
fn aggregate_clauses(f: &Function) -> Option<Expr> {
    let FunctionArguments::List(list) = &f.args else {
        return None;
    };
    // `ARRAY_AGG(g(x) IGNORE NULLS)` parses as `g(x) IGNORE NULLS` (a window-function form)
    // inside the aggregate: move it back to the aggregate.
    if let Some(FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::Function(inner)))) =
        list.args.first()
        && inner.over.is_none()
        && matches!(
            inner.null_treatment,
            Some(sqlparser::ast::NullTreatment::IgnoreNulls)
        )
    {
        let mut inner = inner.clone();
        inner.null_treatment = None;
        let mut g = f.clone();
        if let FunctionArguments::List(l) = &mut g.args {
            l.args[0] = FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::Function(inner)));
            l.clauses.push(
                sqlparser::ast::FunctionArgumentClause::IgnoreOrRespectNulls(
                    sqlparser::ast::NullTreatment::IgnoreNulls,
                ),
            );
        }
        return aggregate_clauses(&g).or(Some(Expr::Function(g)));
    }
    let ignore_nulls = list.clauses.iter().any(|c| {
        matches!(
            c,
            sqlparser::ast::FunctionArgumentClause::IgnoreOrRespectNulls(
                sqlparser::ast::NullTreatment::IgnoreNulls
            )
        )
    });
    let limit = list.clauses.iter().find_map(|c| match c {
        sqlparser::ast::FunctionArgumentClause::Limit(e) => Some(e.clone()),
        _ => None,
    });
    if !ignore_nulls && limit.is_none() {
        return None;
    }
    let mut g = f.clone();
    if let FunctionArguments::List(l) = &mut g.args {
        l.clauses.retain(|c| {
            !matches!(
                c,
                sqlparser::ast::FunctionArgumentClause::IgnoreOrRespectNulls(_)
                    | sqlparser::ast::FunctionArgumentClause::Limit(_)
            )
        });
        if ignore_nulls
            && g.filter.is_none()
            && let Some(FunctionArg::Unnamed(FunctionArgExpr::Expr(first))) = l.args.first()
        {
            g.filter = Some(Box::new(Expr::IsNotNull(Box::new(first.clone()))));
        }
    }
    let g = Expr::Function(g);
    Some(match limit {
        Some(n) => func(
            "list_slice",
            vec![g, Expr::Value(Value::Number("1".into(), false).into()), n],
        ),
        None => g,
    })
}

struct Translator {
    errors: Vec<String>,
}

impl Translator {
    fn rewrite_function(&mut self, f: &Function) -> Option<Expr> {
        let parts = name_of(&f.name);
        let lower: Vec<String> = parts.iter().map(|p| p.to_lowercase()).collect();
        let args = args_of(f);
        let renamed = |to: &str| -> Option<Expr> {
            let mut g = f.clone();
            g.name = plain(to);
            Some(Expr::Function(g))
        };
        match lower
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .as_slice()
        {
            ["mozfun", group, name] => renamed(&format!("mozfun_{group}_{name}")),
            ["safe", name] => renamed(name),
            // DuckDB's count_if gives NULL over only-NULL input; BigQuery's COUNTIF gives 0
            // (a client without matching rows counts 0, as in the reference).
            ["countif"] => {
                let counted = renamed("count_if")?;
                Some(func(
                    "coalesce",
                    vec![
                        counted,
                        Expr::Value(Value::Number("0".into(), false).into()),
                    ],
                ))
            }
            // A deterministic 64-bit hash (not BigQuery's values: only its use as a bucket
            // is kept, e.g. a preview's branch assignment).
            ["farm_fingerprint"] => {
                let [x] = <[Expr; 1]>::try_from(args?).ok()?;
                Some(cast(
                    Expr::Nested(Box::new(Expr::BinaryOp {
                        left: Box::new(func("hash", vec![x])),
                        op: BinaryOperator::PGBitwiseShiftRight,
                        right: Box::new(Expr::Value(Value::Number("1".into(), false).into())),
                    })),
                    DataType::BigInt(None),
                ))
            }
            ["logical_or"] => renamed("bool_or"),
            ["logical_and"] => renamed("bool_and"),
            ["json_value"] | ["json_extract_scalar"] => renamed("json_extract_string"),
            ["array_length"] => renamed("len"),
            ["regexp_contains"] => renamed("regexp_matches"),
            ["safe_divide"] => {
                let [a, b] = <[Expr; 2]>::try_from(args?).ok()?;
                Some(Expr::BinaryOp {
                    left: Box::new(Expr::Nested(Box::new(a))),
                    op: BinaryOperator::Divide,
                    right: Box::new(func(
                        "nullif",
                        vec![b, Expr::Value(Value::Number("0".into(), false).into())],
                    )),
                })
            }
            ["if"] => {
                let [c, a, b] = <[Expr; 3]>::try_from(args?).ok()?;
                Some(Expr::Case {
                    case_token: sqlparser::ast::helpers::attached_token::AttachedToken::empty(),
                    end_token: sqlparser::ast::helpers::attached_token::AttachedToken::empty(),
                    operand: None,
                    conditions: vec![CaseWhen {
                        condition: c,
                        result: a,
                    }],
                    else_result: Some(Box::new(b)),
                })
            }
            ["date"] => match args?.as_slice() {
                [x] => Some(cast(x.clone(), DataType::Date)),
                [y, m, d] => Some(func("make_date", vec![y.clone(), m.clone(), d.clone()])),
                _ => None,
            },
            ["date_diff"] | ["datetime_diff"] | ["timestamp_diff"] => {
                let [a, b, part] = <[Expr; 3]>::try_from(args?).ok()?;
                let part = date_part(&part)?;
                Some(func("date_diff", vec![string(&part), b, a]))
            }
            ["date_trunc"] | ["timestamp_trunc"] | ["datetime_trunc"] => {
                let [d, part] = <[Expr; 2]>::try_from(args?).ok()?;
                let part = date_part(&part)?;
                Some(func("date_trunc", vec![string(&part), d]))
            }
            [op @ ("date_add" | "date_sub")] => {
                let [d, interval] = <[Expr; 2]>::try_from(args?).ok()?;
                let Expr::Interval(i) = interval else {
                    return None;
                };
                let unit = i
                    .leading_field
                    .as_ref()
                    .and_then(field_name)
                    .unwrap_or("day");
                let amount = func(
                    &format!("to_{unit}s"),
                    vec![cast(*i.value.clone(), DataType::BigInt(None))],
                );
                let op = if *op == "date_add" {
                    BinaryOperator::Plus
                } else {
                    BinaryOperator::Minus
                };
                Some(cast(
                    Expr::Nested(Box::new(Expr::BinaryOp {
                        left: Box::new(cast(d, DataType::Date)),
                        op,
                        right: Box::new(amount),
                    })),
                    DataType::Date,
                ))
            }
            _ => None,
        }
    }
}

impl VisitorMut for Translator {
    type Break = ();

    fn post_visit_relation(&mut self, relation: &mut ObjectName) -> ControlFlow<()> {
        let parts = name_of(relation);
        relation.0 = parts
            .iter()
            .map(|p| ObjectNamePart::Identifier(ident(p)))
            .collect();
        ControlFlow::Continue(())
    }

    fn post_visit_select(&mut self, select: &mut sqlparser::ast::Select) -> ControlFlow<()> {
        for item in &mut select.projection {
            let opts = match item {
                SelectItem::Wildcard(o) | SelectItem::QualifiedWildcard(_, o) => o,
                _ => continue,
            };
            if let Some(except) = opts.opt_except.take() {
                let mut cols = vec![except.first_element];
                cols.extend(except.additional_elements);
                opts.opt_exclude = Some(ExcludeSelectItem::Multiple(
                    cols.into_iter()
                        .map(|c| ObjectName(vec![ObjectNamePart::Identifier(c)]))
                        .collect(),
                ));
            }
            if opts.opt_replace.is_some() {
                self.errors.push("SELECT * REPLACE".into());
            }
        }
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        match expr {
            Expr::Function(f) => {
                if let Some(new) = self.rewrite_function(f) {
                    *expr = new;
                }
                if let Expr::Function(f) = expr
                    && let Some(new) = aggregate_clauses(f)
                {
                    *expr = new;
                }
            }
            Expr::Struct { values, fields } if fields.is_empty() => {
                // STRUCT(a AS x, b AS y) → struct_pack(x := a, y := b)
                let mut args = Vec::new();
                for (i, v) in values.iter().enumerate() {
                    let (name, value) = match v {
                        Expr::Named { expr, name } => (name.clone(), (**expr).clone()),
                        other => (Ident::new(format!("f{i}")), other.clone()),
                    };
                    args.push(FunctionArg::Named {
                        name,
                        arg: FunctionArgExpr::Expr(value),
                        operator: sqlparser::ast::FunctionArgOperator::Assignment,
                    });
                }
                let mut f = match func("struct_pack", Vec::new()) {
                    Expr::Function(f) => f,
                    _ => return ControlFlow::Continue(()),
                };
                f.args = FunctionArguments::List(FunctionArgumentList {
                    duplicate_treatment: None,
                    args,
                    clauses: Vec::new(),
                });
                *expr = Expr::Function(f);
            }
            Expr::Cast {
                kind, data_type, ..
            } => {
                if *kind == CastKind::SafeCast {
                    *kind = CastKind::TryCast;
                }
                if let Some(t) = map_type(data_type) {
                    *data_type = t;
                }
            }
            Expr::Identifier(i) if i.quote_style == Some('`') => {
                *i = ident(&i.value);
            }
            Expr::CompoundIdentifier(parts) => {
                let flat: Vec<String> = parts
                    .iter()
                    .flat_map(|p| p.value.split('.').map(str::to_string).collect::<Vec<_>>())
                    .collect();
                *parts = flat.iter().map(|p| ident(p)).collect();
            }
            Expr::CompoundFieldAccess { access_chain, .. } => {
                for access in access_chain.iter_mut() {
                    if let sqlparser::ast::AccessExpr::Subscript(sqlparser::ast::Subscript::Index {
                        index,
                    }) = access
                        && let Expr::Function(f) = index
                    {
                        let n = name_of(&f.name).join(".").to_lowercase();
                        let offset = match n.as_str() {
                            "offset" | "safe_offset" => Some(1),
                            "ordinal" | "safe_ordinal" => Some(0),
                            _ => None,
                        };
                        if let (Some(add), Some([i])) = (offset, args_of(f).as_deref()) {
                            *index = if add == 0 {
                                i.clone()
                            } else {
                                Expr::BinaryOp {
                                    left: Box::new(Expr::Nested(Box::new(i.clone()))),
                                    op: BinaryOperator::Plus,
                                    right: Box::new(Expr::Value(
                                        Value::Number("1".into(), false).into(),
                                    )),
                                }
                            };
                        }
                    }
                }
            }
            _ => {}
        }
        ControlFlow::Continue(())
    }
}

/// Translate BigQuery SQL (one or more statements) into DuckDB SQL.
pub fn translate(sql: &str) -> Result<String, TranslateError> {
    let mut statements: Vec<Statement> = Parser::parse_sql(&BigQueryDialect {}, sql)
        .map_err(|e| TranslateError::Parse(e.to_string()))?;
    let mut t = Translator { errors: Vec::new() };
    for s in &mut statements {
        let _ = s.visit(&mut t);
    }
    if let Some(e) = t.errors.into_iter().next() {
        return Err(TranslateError::Unsupported(e));
    }
    Ok(statements
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(";\n"))
}

/// Translate a SELECT-list expression (e.g. a metric's select expression).
pub fn translate_expression(expr: &str) -> Result<String, TranslateError> {
    let q = translate(&format!("SELECT {expr} AS x"))?;
    Ok(q.strip_prefix("SELECT ")
        .and_then(|s| s.strip_suffix(" AS x"))
        .unwrap_or(&q)
        .to_string())
}

use sqlparser::ast::VisitMut as _;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_words_in_table_paths_are_quoted() {
        let duck = translate("SELECT * FROM `full.statistics_x` AS s").unwrap();
        assert!(duck.contains("\"full\".statistics_x"), "{duck}");
        let duck = translate("SELECT * FROM `p.order.t`").unwrap();
        assert!(duck.contains("\"order\""), "{duck}");
    }

    fn t(sql: &str) -> String {
        translate(sql).unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    #[test]
    fn functions_and_names() {
        assert_eq!(
            t(
                "SELECT COUNTIF(x > 1), LOGICAL_OR(y) FROM `moz-fx-data-shared-prod.telemetry.events`"
            ),
            "SELECT coalesce(count_if(x > 1), 0), bool_or(y) FROM \"moz-fx-data-shared-prod\".telemetry.events"
        );
        assert_eq!(t("SELECT SAFE_DIVIDE(a, b)"), "SELECT (a) / nullif(b, 0)");
        assert_eq!(
            t("SELECT MOD(FARM_FINGERPRINT(CONCAT(id, 's')), 2)"),
            "SELECT MOD(CAST((hash(CONCAT(id, 's')) >> 1) AS BIGINT), 2)"
        );
        assert_eq!(
            t("SELECT IF(a, 1, 2)"),
            "SELECT CASE WHEN a THEN 1 ELSE 2 END"
        );
        assert_eq!(
            t("SELECT DATE_DIFF(a, b, DAY)"),
            "SELECT date_diff('day', b, a)"
        );
        assert_eq!(
            t("SELECT DATE_ADD('2026-01-05', INTERVAL e.n DAY)"),
            "SELECT CAST((CAST('2026-01-05' AS DATE) + to_days(CAST(e.n AS BIGINT))) AS DATE)"
        );
        assert_eq!(
            t("SELECT SAFE_CAST(x AS INT64)"),
            "SELECT TRY_CAST(x AS BIGINT)"
        );
        assert_eq!(
            t("SELECT * EXCEPT (a, b) FROM t"),
            "SELECT * EXCLUDE (a, b) FROM t"
        );
        assert_eq!(
            t("SELECT `mozfun.map.get_key`(m, 'k'), mozfun.hist.extract(h)"),
            "SELECT mozfun_map_get_key(m, 'k'), mozfun_hist_extract(h)"
        );
        assert_eq!(
            t("SELECT JSON_VALUE(e, '$.a')"),
            "SELECT json_extract_string(e, '$.a')"
        );
        assert_eq!(t("SELECT SAFE.SUBSTR(a, 0, 8)"), "SELECT substr(a, 0, 8)");
        assert_eq!(
            t("SELECT x[SAFE_OFFSET(1)] FROM t"),
            "SELECT x[(1) + 1] FROM t"
        );
        assert_eq!(t("SELECT DATE(ts)"), "SELECT CAST(ts AS DATE)");
        assert!(matches!(
            translate("SELECT ((("),
            Err(TranslateError::Parse(_))
        ));
        assert!(matches!(
            translate("SELECT * REPLACE (1 AS a) FROM t"),
            Err(TranslateError::Unsupported(_))
        ));
    }
}
