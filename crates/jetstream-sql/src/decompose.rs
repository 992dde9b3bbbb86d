//! Which metric SQL can be rebuilt from daily per-client partials, and how.
//!
//! A metric's `select_expression` is aggregated over the data-source rows of a client in a
//! window. When every aggregate in it adds up over days — `SUM`, `COUNT`, `COUNTIF`, `MIN`,
//! `MAX`, `LOGICAL_OR/AND`, `BIT_OR/AND/XOR`, `AVG` (as a sum over a count), `COUNT(DISTINCT
//! <the data source's day>)` (at most one a day) — and nothing
//! outside those aggregates reads a row, the window's value is the same expression over the
//! aggregates of the daily partials: a day's `SUM(x)` is stored per client and date, and the
//! window takes `SUM` of those. [`decompose`] parses the expression (BigQuery dialect, with
//! sqlparser), lists the inner aggregates ([`Decomposed::partials`]) and gives the expression
//! that recombines them ([`Decomposed::combine`]).
//!
//! Everything else keeps the window query: `COUNT(DISTINCT …)` and any `DISTINCT` aggregate,
//! quantiles, array and string aggregation, window functions, other aggregates (`ANY_VALUE`,
//! variances, user-defined aggregates), aggregates with `FILTER`/`ORDER BY`/`LIMIT`, a column
//! or subquery outside the aggregates, the enrollment columns of the window query, and SQL
//! that does not parse. [`Class`] names the reason.
//!
//! One case is not covered by the recombination and is handled by the caller: a client with
//! no row in the window. The window query's `LEFT JOIN` then aggregates one all-NULL row,
//! which is not always NULL (`COUNT(*)` is 1, `COUNTIF(x IS NULL)` is 1). The metrics query
//! from partials evaluates the original expression on such a row instead.

use std::fmt;
use std::ops::ControlFlow;

use sqlparser::ast::{
    DuplicateTreatment, Expr, Function, FunctionArg, FunctionArgExpr, FunctionArguments, Ident,
    InTarget, ObjectNamePart, VisitMut, VisitorMut,
};
use sqlparser::dialect::BigQueryDialect;
use sqlparser::parser::Parser;

/// Why a metric is (or is not) rebuilt from daily partials.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Class {
    /// Every aggregate adds up over days.
    Decomposable,
    /// `COUNT(DISTINCT …)`, `APPROX_COUNT_DISTINCT`, HyperLogLog sketches or another
    /// `DISTINCT` aggregate.
    Distinct,
    /// Percentiles, `APPROX_QUANTILES`, `APPROX_TOP_COUNT`, …
    Quantile,
    /// `ARRAY_AGG`, `STRING_AGG`, `ARRAY_CONCAT_AGG` (and what is computed from them).
    ArrayAggregation,
    /// An analytic function (`… OVER (…)`).
    WindowFunction,
    /// Another aggregate (`ANY_VALUE`, `STDDEV`, a user-defined aggregate, …) or an aggregate
    /// with `FILTER`, `ORDER BY`, `LIMIT` or `HAVING`.
    OtherAggregate,
    /// A column, subquery or enrollment column read outside the aggregates, or no aggregate.
    RowLevel,
    /// The expression does not parse.
    Unparsed,
}

impl Class {
    /// Every class, decomposable first.
    pub const ALL: [Class; 8] = [
        Class::Decomposable,
        Class::Distinct,
        Class::Quantile,
        Class::ArrayAggregation,
        Class::WindowFunction,
        Class::OtherAggregate,
        Class::RowLevel,
        Class::Unparsed,
    ];

    /// A short name (`decomposable`, `distinct`, …).
    pub fn as_str(&self) -> &'static str {
        match self {
            Class::Decomposable => "decomposable",
            Class::Distinct => "distinct",
            Class::Quantile => "quantile",
            Class::ArrayAggregation => "array aggregation",
            Class::WindowFunction => "window function",
            Class::OtherAggregate => "other aggregate",
            Class::RowLevel => "row level",
            Class::Unparsed => "unparsed",
        }
    }
}

impl fmt::Display for Class {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How the daily values of one inner aggregate make the window's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Combine {
    Sum,
    /// A count: `SUM` of the daily counts, as an integer.
    Count,
    Min,
    Max,
    Or,
    And,
    BitOr,
    BitAnd,
    BitXor,
}

impl Combine {
    fn apply(self, column: &str) -> String {
        match self {
            Combine::Sum => format!("SUM({column})"),
            Combine::Count => format!("CAST(SUM({column}) AS INT64)"),
            Combine::Min => format!("MIN({column})"),
            Combine::Max => format!("MAX({column})"),
            Combine::Or => format!("LOGICAL_OR({column})"),
            Combine::And => format!("LOGICAL_AND({column})"),
            Combine::BitOr => format!("BIT_OR({column})"),
            Combine::BitAnd => format!("BIT_AND({column})"),
            Combine::BitXor => format!("BIT_XOR({column})"),
        }
    }
}

/// One inner aggregate of a decomposable metric, computed per client and day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partial {
    /// The aggregate over one day's rows of a client (BigQuery SQL).
    pub sql: String,
    combine: Combine,
}

impl Partial {
    /// A stable column name for this partial: `p_` and 16 hex digits of a hash of its SQL
    /// (metrics with the same inner aggregate share it; a changed definition gets a new one).
    pub fn column(&self) -> String {
        format!("p_{:016x}", fnv1a(self.sql.as_bytes()))
    }

    /// The window's value of this aggregate from the daily column `column`.
    pub fn combine(&self, column: &str) -> String {
        self.combine.apply(column)
    }
}

/// A metric rebuilt from daily partials.
#[derive(Debug, Clone)]
pub struct Decomposed {
    /// The inner aggregates, in order of appearance (duplicates once).
    pub partials: Vec<Partial>,
    /// The expression with `__jetstream_partial_<k>` placeholders for the aggregates.
    outer: Expr,
    /// The expression as written.
    original: String,
    /// Per placeholder: the partial(s) it is made of (two for `AVG`).
    slots: Vec<Slot>,
}

#[derive(Debug, Clone, Copy)]
enum Slot {
    One(usize),
    /// `AVG`: sum over count.
    Ratio(usize, usize),
}

impl Decomposed {
    /// The metric's expression as written (over the data source's rows).
    pub fn original(&self) -> &str {
        &self.original
    }

    /// The window's value from the daily partial columns: `column(partial)` names the column
    /// (qualified as the caller needs) of each partial.
    pub fn combine(&self, column: &dyn Fn(&Partial) -> String) -> String {
        let mut outer = self.outer.clone();
        let pieces: Vec<String> = self
            .slots
            .iter()
            .map(|slot| match *slot {
                Slot::One(i) => self.partials[i].combine(&column(&self.partials[i])),
                Slot::Ratio(s, c) => format!(
                    "SAFE_DIVIDE({}, {})",
                    self.partials[s].combine(&column(&self.partials[s])),
                    self.partials[c].combine(&column(&self.partials[c]))
                ),
            })
            .collect();
        let _ = outer.visit(&mut Fill { pieces: &pieces });
        outer.to_string()
    }
}

/// The placeholder of slot `k`.
fn placeholder(k: usize) -> String {
    format!("__jetstream_partial_{k}")
}

struct Fill<'a> {
    pieces: &'a [String],
}

impl VisitorMut for Fill<'_> {
    type Break = ();

    fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        if let Expr::Identifier(i) = expr
            && let Some(k) = i.value.strip_prefix("__jetstream_partial_")
            && let Ok(k) = k.parse::<usize>()
            && let Some(piece) = self.pieces.get(k)
        {
            // A parenthesised piece keeps its precedence inside the outer expression.
            *expr = Expr::Identifier(Ident::new(format!("({piece})")));
        }
        ControlFlow::Continue(())
    }
}

/// A 64-bit FNV-1a hash (stable across builds and platforms, unlike `DefaultHasher`).
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The enrollment columns of the window query: an expression reading one depends on the
/// experiment and the window, not on the day's rows.
const ENROLLMENT_COLUMNS: [&str; 7] = [
    "analysis_id",
    "analysis_window_start",
    "analysis_window_end",
    "enrollment_date",
    "exposure_date",
    "num_exposure_events",
    "branch",
];

/// Date parts and keywords that parse as identifiers in function arguments (`DATE_DIFF(a, b,
/// DAY)`): not columns.
const KEYWORDS: [&str; 12] = [
    "day",
    "week",
    "month",
    "year",
    "quarter",
    "hour",
    "minute",
    "second",
    "isoweek",
    "isoyear",
    "dayofweek",
    "dayofyear",
];

/// The function's name, upper-case, without its project and dataset (`mozfun.hist.merge` →
/// `MOZFUN.HIST.MERGE`; `SUM` → `SUM`).
fn function_name(f: &Function) -> String {
    f.name
        .0
        .iter()
        .map(|p| match p {
            ObjectNamePart::Identifier(i) => i.value.to_uppercase(),
            ObjectNamePart::Function(f) => f.name.value.to_uppercase(),
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// What a function is, as far as decomposition goes.
enum Kind {
    Additive(Combine),
    Avg,
    Rejected(Class),
    Scalar,
}

fn kind(name: &str) -> Kind {
    match name {
        "SUM" => Kind::Additive(Combine::Sum),
        "COUNT" | "COUNTIF" => Kind::Additive(Combine::Count),
        "MIN" => Kind::Additive(Combine::Min),
        "MAX" => Kind::Additive(Combine::Max),
        "LOGICAL_OR" => Kind::Additive(Combine::Or),
        "LOGICAL_AND" => Kind::Additive(Combine::And),
        "BIT_OR" => Kind::Additive(Combine::BitOr),
        "BIT_AND" => Kind::Additive(Combine::BitAnd),
        "BIT_XOR" => Kind::Additive(Combine::BitXor),
        "AVG" => Kind::Avg,
        "APPROX_COUNT_DISTINCT" => Kind::Rejected(Class::Distinct),
        n if n.starts_with("HLL_COUNT.") => Kind::Rejected(Class::Distinct),
        "APPROX_QUANTILES" | "APPROX_TOP_COUNT" | "APPROX_TOP_SUM" | "PERCENTILE_CONT"
        | "PERCENTILE_DISC" => Kind::Rejected(Class::Quantile),
        "ARRAY_AGG" | "STRING_AGG" | "ARRAY_CONCAT_AGG" => Kind::Rejected(Class::ArrayAggregation),
        "ANY_VALUE" | "STDDEV" | "STDDEV_POP" | "STDDEV_SAMP" | "VARIANCE" | "VAR_POP"
        | "VAR_SAMP" | "CORR" | "COVAR_POP" | "COVAR_SAMP" | "MAX_BY" | "MIN_BY" | "GROUPING" => {
            Kind::Rejected(Class::OtherAggregate)
        }
        _ => Kind::Scalar,
    }
}

/// Whether the aggregate call has clauses or modifiers that change what it adds up.
fn has_modifiers(f: &Function) -> Option<Class> {
    if f.filter.is_some() || !f.within_group.is_empty() {
        return Some(Class::OtherAggregate);
    }
    match &f.args {
        FunctionArguments::List(list) => {
            if matches!(list.duplicate_treatment, Some(DuplicateTreatment::Distinct)) {
                return Some(Class::Distinct);
            }
            if !list.clauses.is_empty() {
                return Some(Class::OtherAggregate);
            }
            None
        }
        FunctionArguments::Subquery(_) => Some(Class::OtherAggregate),
        FunctionArguments::None => None,
    }
}

struct Split {
    /// The data source's day and what it is computed from (`submission_date`,
    /// `DATE(submission_timestamp)`): `COUNT(DISTINCT <day>)` counts days, which add up.
    days: Vec<Expr>,
    partials: Vec<Partial>,
    slots: Vec<Slot>,
    rejected: Option<Class>,
}

impl Split {
    fn reject(&mut self, class: Class) -> ControlFlow<()> {
        // The first reason found stays (the outermost construct).
        self.rejected.get_or_insert(class);
        ControlFlow::Break(())
    }

    fn partial(&mut self, sql: String, combine: Combine) -> usize {
        let p = Partial { sql, combine };
        match self.partials.iter().position(|q| *q == p) {
            Some(i) => i,
            None => {
                self.partials.push(p);
                self.partials.len() - 1
            }
        }
    }

    /// `COUNT(DISTINCT <the day>)`: at most one per day, so the daily counts add up.
    fn counts_days(&self, f: &Function) -> bool {
        let FunctionArguments::List(list) = &f.args else {
            return false;
        };
        matches!(list.duplicate_treatment, Some(DuplicateTreatment::Distinct))
            && list.clauses.is_empty()
            && f.filter.is_none()
            && matches!(list.args.as_slice(), [FunctionArg::Unnamed(FunctionArgExpr::Expr(e))]
                if self.days.iter().any(|d| same_column(e, d)))
    }

    /// Reject an argument that itself aggregates or reads the enrollment columns.
    fn check_argument(&mut self, f: &Function) -> Result<(), Class> {
        let mut inner = Inner { found: None };
        let mut copy = f.clone();
        if let FunctionArguments::List(list) = &mut copy.args {
            for a in &mut list.args {
                if let FunctionArg::Unnamed(FunctionArgExpr::Expr(e))
                | FunctionArg::Named {
                    arg: FunctionArgExpr::Expr(e),
                    ..
                } = a
                {
                    let _ = e.visit(&mut inner);
                }
            }
        }
        match inner.found {
            Some(c) => Err(c),
            None => Ok(()),
        }
    }
}

/// Finds, inside an aggregate's argument, a nested aggregate or analytic function (outside
/// subqueries, which are row-level and may aggregate their own rows) or an enrollment column.
struct Inner {
    found: Option<Class>,
}

impl VisitorMut for Inner {
    type Break = ();

    fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        match expr {
            // A subquery aggregates its own rows (`(SELECT SUM(v) FROM UNNEST(x))`): skip it.
            Expr::Subquery(_)
            | Expr::Exists { .. }
            | Expr::In {
                target: InTarget::Subquery(_),
                ..
            } => {
                *expr = Expr::Value(sqlparser::ast::Value::Null.into());
            }
            Expr::Function(f) => {
                if f.over.is_some() {
                    self.found = Some(Class::WindowFunction);
                    return ControlFlow::Break(());
                }
                if !matches!(kind(&function_name(f)), Kind::Scalar) {
                    self.found = Some(Class::OtherAggregate);
                    return ControlFlow::Break(());
                }
            }
            Expr::Identifier(i) if is_enrollment_column(&i.value) => {
                self.found = Some(Class::RowLevel);
                return ControlFlow::Break(());
            }
            // `e.` is the window query's enrollments.
            Expr::CompoundIdentifier(parts) if parts.first().is_some_and(|p| p.value == "e") => {
                self.found = Some(Class::RowLevel);
                return ControlFlow::Break(());
            }
            _ => {}
        }
        ControlFlow::Continue(())
    }
}

fn is_enrollment_column(name: &str) -> bool {
    ENROLLMENT_COLUMNS.contains(&name.to_lowercase().as_str())
}

impl VisitorMut for Split {
    type Break = ();

    fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        match expr {
            Expr::Function(f) => {
                if f.over.is_some() {
                    return self.reject(Class::WindowFunction);
                }
                let name = function_name(f);
                let k = kind(&name);
                if matches!(k, Kind::Scalar) {
                    return ControlFlow::Continue(());
                }
                if let Kind::Rejected(class) = k {
                    return self.reject(class);
                }
                let counts_days = name == "COUNT" && self.counts_days(f);
                if let Some(class) = has_modifiers(f).filter(|_| !counts_days) {
                    return self.reject(class);
                }
                if let Err(class) = self.check_argument(f) {
                    return self.reject(class);
                }
                let slot = match k {
                    Kind::Additive(combine) => {
                        let i = self.partial(f.to_string(), combine);
                        Slot::One(i)
                    }
                    Kind::Avg => {
                        let (sum, count) = (f.clone(), f.clone());
                        let mut sum = sum;
                        sum.name = plain_name("SUM");
                        let mut count = count;
                        count.name = plain_name("COUNT");
                        let s = self.partial(sum.to_string(), Combine::Sum);
                        let c = self.partial(count.to_string(), Combine::Count);
                        Slot::Ratio(s, c)
                    }
                    Kind::Rejected(_) | Kind::Scalar => unreachable!("handled above"),
                };
                self.slots.push(slot);
                *expr = Expr::Identifier(Ident::new(placeholder(self.slots.len() - 1)));
                ControlFlow::Continue(())
            }
            Expr::Subquery(_)
            | Expr::Exists { .. }
            | Expr::In {
                target: InTarget::Subquery(_),
                ..
            } => self.reject(Class::RowLevel),
            Expr::Identifier(i) => {
                let v = i.value.to_lowercase();
                if v.starts_with("__jetstream_partial_") || KEYWORDS.contains(&v.as_str()) {
                    ControlFlow::Continue(())
                } else {
                    self.reject(Class::RowLevel)
                }
            }
            Expr::CompoundIdentifier(_) | Expr::Wildcard(_) | Expr::QualifiedWildcard(..) => {
                self.reject(Class::RowLevel)
            }
            _ => ControlFlow::Continue(()),
        }
    }
}

/// `a` and `b` are the same expression, table qualifiers (`ds.`, `p.`) aside.
fn same_column(a: &Expr, b: &Expr) -> bool {
    fn unqualified(e: &Expr) -> String {
        let mut e = e.clone();
        let _ = e.visit(&mut Unqualify);
        e.to_string().to_lowercase()
    }
    unqualified(a) == unqualified(b)
}

struct Unqualify;

impl VisitorMut for Unqualify {
    type Break = ();

    fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        if let Expr::CompoundIdentifier(parts) = expr
            && parts.len() == 2
        {
            *expr = Expr::Identifier(parts[1].clone());
        }
        ControlFlow::Continue(())
    }
}

fn plain_name(name: &str) -> sqlparser::ast::ObjectName {
    sqlparser::ast::ObjectName(vec![ObjectNamePart::Identifier(Ident::new(name))])
}

fn parse(sql: &str) -> Option<Expr> {
    Parser::new(&BigQueryDialect {})
        .try_with_sql(sql)
        .and_then(|mut p| {
            let e = p.parse_expr()?;
            p.expect_token(&sqlparser::tokenizer::Token::EOF)?;
            Ok(e)
        })
        .ok()
}

/// What a data source's day column is: the column itself and, when the data source's FROM
/// expression is a query that computes it (`DATE(p.submission_timestamp) AS submission_date`),
/// that expression.
pub fn day_expressions(from_expression: &str, day_column: &str) -> Vec<String> {
    let mut days = vec![day_column.to_string()];
    let inner = from_expression.trim();
    let inner = inner
        .strip_prefix('(')
        .and_then(|s| s.strip_suffix(')'))
        .unwrap_or(inner);
    let Ok(statements) = Parser::parse_sql(&BigQueryDialect {}, inner) else {
        return days;
    };
    let Some(sqlparser::ast::Statement::Query(q)) = statements.first() else {
        return days;
    };
    if let sqlparser::ast::SetExpr::Select(select) = q.body.as_ref() {
        for item in &select.projection {
            if let sqlparser::ast::SelectItem::ExprWithAlias { expr, alias } = item
                && alias.value.eq_ignore_ascii_case(day_column)
            {
                days.push(expr.to_string());
            }
        }
    }
    days
}

/// Decompose a metric's rendered `select_expression` (BigQuery SQL) over a data source whose
/// day is `submission_date`, or say why not.
pub fn decompose(select_expression: &str) -> Result<Decomposed, Class> {
    decompose_in(select_expression, &["submission_date".to_string()])
}

/// Decompose a metric's rendered `select_expression` over a data source whose day is any of
/// `days` ([`day_expressions`]), or say why not.
pub fn decompose_in(select_expression: &str, days: &[String]) -> Result<Decomposed, Class> {
    let mut expr = parse(select_expression).ok_or(Class::Unparsed)?;
    let mut split = Split {
        days: days.iter().filter_map(|d| parse(d)).collect(),
        partials: Vec::new(),
        slots: Vec::new(),
        rejected: None,
    };
    let _ = expr.visit(&mut split);
    if let Some(class) = split.rejected {
        return Err(class);
    }
    if split.slots.is_empty() {
        return Err(Class::RowLevel);
    }
    Ok(Decomposed {
        partials: split.partials,
        outer: expr,
        original: select_expression.to_string(),
        slots: split.slots,
    })
}

/// The class of a metric's `select_expression` over a data source whose day is any of `days`.
pub fn classify(select_expression: &str, days: &[String]) -> Class {
    match decompose_in(select_expression, days) {
        Ok(_) => Class::Decomposable,
        Err(c) => c,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rebuilt(sql: &str) -> (Vec<String>, String) {
        let d = decompose(sql).unwrap_or_else(|c| panic!("{sql}: {c}"));
        let parts = d.partials.iter().map(|p| p.sql.clone()).collect();
        let combined = d.combine(&|p| format!("p.{}", p.column()));
        let mut named = combined;
        for p in &d.partials {
            named = named.replace(&p.column(), &format!("#{}", p.sql));
        }
        (parts, named)
    }

    #[test]
    fn additive_aggregates_and_expressions_over_them_decompose() {
        let (parts, combined) = rebuilt("COALESCE(SUM(active_hours_sum), 0)");
        assert_eq!(parts, ["SUM(active_hours_sum)"]);
        assert_eq!(combined, "COALESCE((SUM(p.#SUM(active_hours_sum))), 0)");

        let (parts, combined) = rebuilt("COUNTIF(x > 1) + COUNT(*) * 2");
        assert_eq!(parts, ["COUNTIF(x > 1)", "COUNT(*)"]);
        assert_eq!(
            combined,
            "(CAST(SUM(p.#COUNTIF(x > 1)) AS INT64)) + (CAST(SUM(p.#COUNT(*)) AS INT64)) * 2"
        );

        let (parts, combined) = rebuilt("SAFE_DIVIDE(SUM(a), SUM(b))");
        assert_eq!(parts, ["SUM(a)", "SUM(b)"]);
        assert_eq!(combined, "SAFE_DIVIDE((SUM(p.#SUM(a))), (SUM(p.#SUM(b))))");

        // AVG is a sum over a count; the same aggregate twice is one partial.
        let (parts, combined) = rebuilt("AVG(x) - SUM(x) / 2");
        assert_eq!(parts, ["SUM(x)", "COUNT(x)"]);
        assert_eq!(
            combined,
            "(SAFE_DIVIDE(SUM(p.#SUM(x)), CAST(SUM(p.#COUNT(x)) AS INT64))) - (SUM(p.#SUM(x))) / 2"
        );

        for sql in [
            "LOGICAL_OR(is_default_browser)",
            "COALESCE(MAX(IF(x, 1, 0)), 0)",
            "MIN(DATE_DIFF(submission_date, first_seen_date, DAY))",
            "BIT_OR(days_seen_bits)",
            "SUM((SELECT SUM(v.value) FROM UNNEST(m) v))",
            "COUNTIF(`mozfun.map.get_key`(experiments, 'x') IS NOT NULL)",
            "IF(SUM(a) > 0, 1, 0)",
        ] {
            assert!(decompose(sql).is_ok(), "{sql}");
        }
        // Distinct days add up: at most one a day.
        for (sql, day) in [
            ("COUNT(DISTINCT submission_date)", "submission_date"),
            ("COUNT(DISTINCT ds.submission_date)", "submission_date"),
            (
                "COUNT(DISTINCT DATE(submission_timestamp))",
                "DATE(submission_timestamp)",
            ),
        ] {
            let d = decompose_in(sql, &[day.to_string()]).unwrap_or_else(|c| panic!("{sql}: {c}"));
            assert_eq!(d.partials.len(), 1, "{sql}");
        }
        let days = day_expressions(
            "(SELECT p.*, DATE(p.submission_timestamp) AS submission_date FROM `x.y.baseline` p)",
            "submission_date",
        );
        assert_eq!(days, ["submission_date", "DATE(p.submission_timestamp)"]);
        assert!(decompose_in("COUNT(DISTINCT DATE(submission_timestamp))", &days).is_ok());
        // Partial columns are stable names of their SQL.
        let d = decompose("SUM(a)").unwrap();
        assert_eq!(
            d.partials[0].column(),
            decompose("SUM(a) + 1").unwrap().partials[0].column()
        );
        assert_ne!(
            d.partials[0].column(),
            decompose("SUM(b)").unwrap().partials[0].column()
        );
    }

    #[test]
    fn everything_else_keeps_the_window_query_with_its_reason() {
        for (sql, class) in [
            ("COUNT(DISTINCT client_id)", Class::Distinct),
            (
                "COUNT(DISTINCT DATE(submission_timestamp))",
                Class::Distinct,
            ),
            (
                "COUNT(DISTINCT submission_date ORDER BY 1)",
                Class::Distinct,
            ),
            ("SUM(DISTINCT x)", Class::Distinct),
            ("APPROX_COUNT_DISTINCT(x)", Class::Distinct),
            ("HLL_COUNT.MERGE(sketch)", Class::Distinct),
            ("APPROX_QUANTILES(x, 100)[OFFSET(50)]", Class::Quantile),
            (
                "`mozfun.hist.mean`(`mozfun.hist.merge`(ARRAY_AGG(h IGNORE NULLS)))",
                Class::ArrayAggregation,
            ),
            ("SUM(x) OVER (PARTITION BY y)", Class::WindowFunction),
            ("ANY_VALUE(x)", Class::OtherAggregate),
            ("STDDEV(x)", Class::OtherAggregate),
            ("SUM(x ORDER BY y)", Class::OtherAggregate),
            ("SUM(MAX(x))", Class::OtherAggregate),
            ("SUM(x) + y", Class::RowLevel),
            ("x", Class::RowLevel),
            ("1", Class::RowLevel),
            ("SUM(x) + (SELECT 1)", Class::RowLevel),
            ("LOGICAL_OR(b != e.branch)", Class::RowLevel),
            (
                "SUM(IF(submission_date = enrollment_date, 1, 0))",
                Class::RowLevel,
            ),
            ("SUM(", Class::Unparsed),
            ("SUM(x) SUM(y)", Class::Unparsed),
        ] {
            assert_eq!(classify(sql, &["submission_date".into()]), class, "{sql}");
        }
    }
}
