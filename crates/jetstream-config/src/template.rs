//! The two templating layers of metric-hub SQL strings.
//!
//! 1. **Jinja** (minijinja, strict undefined, autoescape off, one trailing newline stripped like
//!    Jinja's default): metric and segment `select_expression`s see the `functions.toml`
//!    functions and, when the text mentions `parameters`, `parameters.*`; enrollment queries,
//!    segment data sources and (when they reference it) data-source `from_expression`s see
//!    `experiment.*`. Python-style triple-quoted arguments (`agg_any("""...""")`) work because
//!    Jinja and minijinja both concatenate adjacent string literals.
//! 2. **Python `str.format`**: function definitions (`{select_expr}`), data-source
//!    `from_expression`s (`{dataset}`) and select expressions (`{experiment_slug}`), where `{{`
//!    and `}}` are literal braces.

use std::collections::BTreeMap;

use minijinja::value::{Kwargs, Value};
use minijinja::{Environment, UndefinedBehavior};

use crate::spec::FunctionsSpec;

/// Python `str.format(**args)` with named fields only. `{{`/`}}` are literal braces.
///
/// Returns the name of the first field that has no value as the error.
pub fn python_format(template: &str, args: &[(&str, &str)]) -> Result<String, FormatError> {
    let mut out = String::with_capacity(template.len());
    let mut chars = template.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '{' => {
                if matches!(chars.peek(), Some((_, '{'))) {
                    chars.next();
                    out.push('{');
                    continue;
                }
                let rest = &template[i + 1..];
                let Some(end) = rest.find('}') else {
                    return Err(FormatError::Syntax(
                        "Single '{' encountered in format string".into(),
                    ));
                };
                let field = &rest[..end];
                if field.contains('{') {
                    return Err(FormatError::Syntax(format!(
                        "unexpected '{{' in field name {field:?}"
                    )));
                }
                // `{name!r}` and `{name:spec}`: the name is what matters here.
                let name = field.split(['!', ':']).next().unwrap_or("");
                if name.is_empty() || name.chars().all(|c| c.is_ascii_digit()) {
                    return Err(FormatError::Positional(field.to_string()));
                }
                match args.iter().find(|(k, _)| *k == name) {
                    Some((_, v)) => out.push_str(v),
                    None => return Err(FormatError::Missing(name.to_string())),
                }
                for _ in 0..=end {
                    chars.next();
                }
            }
            '}' => {
                if matches!(chars.peek(), Some((_, '}'))) {
                    chars.next();
                    out.push('}');
                } else {
                    return Err(FormatError::Syntax(
                        "Single '}' encountered in format string".into(),
                    ));
                }
            }
            c => out.push(c),
        }
    }
    Ok(out)
}

/// Why a `str.format` template could not be filled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FormatError {
    /// A `{name}` with no value.
    #[error("unsupported placeholder {{{0}}}")]
    Missing(String),
    /// A positional `{}` or `{0}` field.
    #[error("positional placeholder {{{0}}} is not supported")]
    Positional(String),
    /// Unbalanced braces.
    #[error("{0}")]
    Syntax(String),
}

/// Names of the `{field}`s of a `str.format` template (ignoring `{{` escapes).
pub fn format_fields(template: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let bytes: Vec<char> = template.chars().collect();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            '{' if bytes.get(i + 1) == Some(&'{') => i += 2,
            '}' if bytes.get(i + 1) == Some(&'}') => i += 2,
            '{' => {
                let mut j = i + 1;
                let mut name = String::new();
                while j < bytes.len() && bytes[j] != '}' {
                    name.push(bytes[j]);
                    j += 1;
                }
                let name = name.split(['!', ':']).next().unwrap_or("").to_string();
                fields.push(name);
                i = j + 1;
            }
            _ => i += 1,
        }
    }
    fields
}

/// The work one template render may do (minijinja's fuel: about one unit per instruction).
/// metric-hub's templates use a few hundred; a loop over a hundred thousand items runs out.
pub const TEMPLATE_FUEL: u64 = 200_000;

/// The longest text a template may render (the longest metric-hub expression is a few KB).
pub const MAX_RENDERED_BYTES: usize = 1 << 20;

/// A Jinja environment with the `functions.toml` functions as globals.
#[derive(Debug)]
pub struct Jinja {
    env: Environment<'static>,
}

impl Jinja {
    /// Build the environment for a set of functions.
    pub fn new(functions: &FunctionsSpec) -> Self {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
        // Config templates are expressions, not programs: bound the work they may do. A
        // template that loops past its fuel fails (naming its file) instead of hanging the run.
        env.set_recursion_limit(64);
        env.set_fuel(Some(TEMPLATE_FUEL));
        for (slug, f) in functions {
            let definition = f.definition.clone();
            let name = slug.clone();
            env.add_function(
                slug.clone(),
                move |positional: Option<Value>,
                      kwargs: Kwargs|
                      -> Result<String, minijinja::Error> {
                    // `f(x)` or `f(select_expr=x)`, like the reference's functools.partial.
                    let keyword: Option<Value> = kwargs.get("select_expr")?;
                    kwargs.assert_all_used()?;
                    let arg = match (positional, keyword) {
                        (Some(a), None) | (None, Some(a)) => a,
                        _ => {
                            return Err(minijinja::Error::new(
                                minijinja::ErrorKind::InvalidOperation,
                                format!("{name}() takes exactly one argument, select_expr"),
                            ));
                        }
                    };
                    let expr = match arg.as_str() {
                        Some(s) => s.to_string(),
                        None => arg.to_string(),
                    };
                    python_format(&definition, &[("select_expr", &expr)]).map_err(|e| {
                        minijinja::Error::new(
                            minijinja::ErrorKind::InvalidOperation,
                            format!("function {name}: {e}"),
                        )
                    })
                },
            );
        }
        Self { env }
    }

    /// Render `source` with the given variables.
    pub fn render(&self, source: &str, vars: &BTreeMap<String, Value>) -> Result<String, String> {
        let text = self
            .env
            .render_str(source, Value::from(vars.clone()))
            .map_err(describe)?;
        if text.len() > MAX_RENDERED_BYTES {
            return Err(format!(
                "the template renders {} bytes: at most {MAX_RENDERED_BYTES}",
                text.len()
            ));
        }
        Ok(text)
    }

    /// The variables a template reads, or `None` when it is not valid Jinja.
    pub fn variables(&self, source: &str) -> Option<Vec<String>> {
        let tmpl = self.env.template_from_str(source).ok()?;
        let mut vars: Vec<String> = tmpl.undeclared_variables(false).into_iter().collect();
        vars.sort();
        Some(vars)
    }
}

fn describe(e: minijinja::Error) -> String {
    let mut msg = match e.detail() {
        Some(d) => format!("{}: {d}", e.kind()),
        None => e.kind().to_string(),
    };
    if let Some(line) = e.line() {
        msg.push_str(&format!(" (template line {line})"));
    }
    msg
}

/// `s` escaped for use inside a SQL string literal (BigQuery syntax, either quote): a
/// backslash, quotes, a backtick, line breaks cannot end the literal or the statement. Every
/// value that a template splices into SQL passes through it.
pub fn sql_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '`' => out.push_str("\\`"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::FunctionDefinition;

    fn functions() -> FunctionsSpec {
        let mut f = FunctionsSpec::new();
        f.insert(
            "agg_any".into(),
            FunctionDefinition {
                definition: "COALESCE(LOGICAL_OR({select_expr}), FALSE)".into(),
                friendly_name: None,
                description: None,
            },
        );
        f.insert(
            "agg_sum".into(),
            FunctionDefinition {
                definition: "COALESCE(SUM({select_expr}), 0)".into(),
                friendly_name: None,
                description: None,
            },
        );
        f
    }

    #[test]
    fn python_format_semantics() {
        assert_eq!(python_format("a{{b}}c", &[]).unwrap(), "a{b}c");
        assert_eq!(
            python_format("SUM({select_expr})", &[("select_expr", "x")]).unwrap(),
            "SUM(x)"
        );
        assert_eq!(
            python_format("{dataset}.t", &[]).unwrap_err(),
            FormatError::Missing("dataset".into())
        );
        assert!(python_format("a { b", &[]).is_err());
        assert!(python_format("a } b", &[]).is_err());
        assert_eq!(
            format_fields("'{{d10d0bf8}}' {dataset} {experiment_slug}"),
            vec!["dataset", "experiment_slug"]
        );
    }

    #[test]
    fn functions_and_triple_quotes() {
        let j = Jinja::new(&functions());
        let out = j
            .render(
                r#"{{agg_any("""
  event = 'x'
""")}}"#,
                &BTreeMap::new(),
            )
            .unwrap();
        assert_eq!(out, "COALESCE(LOGICAL_OR(\n  event = 'x'\n), FALSE)");
        assert_eq!(
            j.render("{{agg_sum('a')}}\n", &BTreeMap::new()).unwrap(),
            "COALESCE(SUM(a), 0)"
        );
        assert_eq!(
            j.render("{{agg_sum(select_expr='a')}}", &BTreeMap::new())
                .unwrap(),
            "COALESCE(SUM(a), 0)"
        );
    }

    #[test]
    fn a_runaway_template_stops_with_an_error() {
        let j = Jinja::new(&functions());
        let started = std::time::Instant::now();
        for source in [
            // A loop of ten billion steps: out of fuel long before.
            "{% for i in range(100000) %}{% for k in range(100000) %}{{ k }}{% endfor %}{% endfor %}",
            // Recursion without end.
            "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}",
            // A huge text from one expression.
            "{{ 'x' * 100000000 }}",
        ] {
            let err = j.render(source, &BTreeMap::new()).unwrap_err();
            assert!(!err.is_empty(), "{source}");
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "stopped, not run to the end: {:?}",
            started.elapsed()
        );
        // metric-hub's own templates are far within the bounds.
        let ok = j
            .render(
                "{% for m in ['a', 'b', 'c'] %}{{ agg_sum(m) }}{% endfor %}",
                &BTreeMap::new(),
            )
            .unwrap();
        assert_eq!(ok.matches("COALESCE").count(), 3);
    }

    #[test]
    fn strict_undefined() {
        let j = Jinja::new(&functions());
        assert!(j.render("{{ nope }}", &BTreeMap::new()).is_err());
        assert!(j.render("{{ agg_nope('a') }}", &BTreeMap::new()).is_err());
    }

    #[test]
    fn guid_is_not_jinja() {
        let j = Jinja::new(&functions());
        assert_eq!(
            j.variables("'{{d10d0bf8-f5b5-c8b4-a8b2-2b9879e08c5d}}'"),
            None
        );
        assert_eq!(
            j.variables("x = '{{experiment.normandy_slug}}'"),
            Some(vec!["experiment".to_string()])
        );
    }
}
