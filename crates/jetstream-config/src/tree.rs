//! A small owned TOML tree that remembers the line of every key and value, and a reader that
//! turns it into typed values while collecting errors and warnings with key paths.

use std::path::Path;
use std::sync::Arc;

use toml::de::{DeTable, DeValue};

use crate::error::{ConfigError, ErrorKind, Origin};

/// A TOML value with the 1-based line where it starts.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node {
    pub(crate) val: Val,
    pub(crate) line: usize,
}

/// A TOML value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Val {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Datetime(String),
    Array(Vec<Node>),
    Table(Table),
}

/// A TOML table in source order.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Table {
    pub(crate) entries: Vec<Entry>,
}

/// One `key = value` of a table.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Entry {
    pub(crate) key: String,
    pub(crate) node: Node,
}

impl Table {
    pub(crate) fn get(&self, key: &str) -> Option<&Node> {
        self.entries.iter().find(|e| e.key == key).map(|e| &e.node)
    }
}

impl Val {
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            Val::Str(_) => "string",
            Val::Int(_) => "integer",
            Val::Float(_) => "float",
            Val::Bool(_) => "boolean",
            Val::Datetime(_) => "datetime",
            Val::Array(_) => "array",
            Val::Table(_) => "table",
        }
    }
}

impl Node {
    /// A short TOML rendering of the value for error messages.
    pub(crate) fn render(&self) -> String {
        let s = render_val(&self.val);
        if s.chars().count() > 120 {
            let cut: String = s.chars().take(117).collect();
            format!("{cut}...")
        } else {
            s
        }
    }
}

fn render_val(v: &Val) -> String {
    match v {
        Val::Str(s) => format!("{s:?}"),
        Val::Int(i) => i.to_string(),
        Val::Float(f) => format!("{f:?}"),
        Val::Bool(b) => b.to_string(),
        Val::Datetime(d) => d.clone(),
        Val::Array(items) => {
            let inner: Vec<String> = items.iter().map(|n| render_val(&n.val)).collect();
            format!("[{}]", inner.join(", "))
        }
        Val::Table(t) => {
            let inner: Vec<String> = t
                .entries
                .iter()
                .map(|e| format!("{} = {}", e.key, render_val(&e.node.val)))
                .collect();
            format!("{{ {} }}", inner.join(", "))
        }
    }
}

/// Byte offset → 1-based line number.
struct Lines {
    starts: Vec<usize>,
}

impl Lines {
    fn new(text: &str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Self { starts }
    }

    fn line(&self, offset: usize) -> usize {
        match self.starts.binary_search(&offset) {
            Ok(i) => i + 1,
            Err(i) => i,
        }
    }
}

/// Parse TOML text into a [`Table`] with line numbers.
pub(crate) fn parse_toml(text: &str) -> Result<Table, ConfigError> {
    let lines = Lines::new(text);
    match DeTable::parse(text) {
        Ok(table) => Ok(convert_table(table.get_ref(), &lines)),
        Err(e) => {
            let line = e.span().map(|s| lines.line(s.start));
            let message = e.message().trim().to_string();
            let mut err = ConfigError::new(ErrorKind::Syntax, "", message);
            err.line = line;
            Err(err)
        }
    }
}

fn convert_table(table: &DeTable<'_>, lines: &Lines) -> Table {
    let entries = table
        .iter()
        .map(|(k, v)| {
            let key_line = lines.line(k.span().start);
            let mut node = convert_value(v.get_ref(), v.span(), lines);
            if matches!(node.val, Val::Table(_)) {
                // Tables created by a `[header]` start at their header, which is the key's line.
                node.line = key_line;
            }
            Entry {
                key: k.get_ref().to_string(),
                node,
            }
        })
        .collect();
    Table { entries }
}

fn convert_value(v: &DeValue<'_>, span: std::ops::Range<usize>, lines: &Lines) -> Node {
    let line = lines.line(span.start);
    let val = match v {
        DeValue::String(s) => Val::Str(s.to_string()),
        DeValue::Integer(i) => match i64::from_str_radix(i.as_str(), i.radix()) {
            Ok(n) => Val::Int(n),
            // Out-of-range integers are kept as floats; the reader rejects them where an
            // integer is needed.
            Err(_) => Val::Float(i.as_str().parse().unwrap_or(f64::NAN)),
        },
        DeValue::Float(f) => Val::Float(parse_float(f.as_str())),
        DeValue::Boolean(b) => Val::Bool(*b),
        DeValue::Datetime(d) => Val::Datetime(d.to_string()),
        DeValue::Array(items) => Val::Array(
            items
                .iter()
                .map(|item| convert_value(item.get_ref(), item.span(), lines))
                .collect(),
        ),
        DeValue::Table(t) => Val::Table(convert_table(t, lines)),
    };
    Node { val, line }
}

fn parse_float(s: &str) -> f64 {
    match s {
        "inf" | "+inf" => f64::INFINITY,
        "-inf" => f64::NEG_INFINITY,
        "nan" | "+nan" | "-nan" => f64::NAN,
        other => other.replace('_', "").parse().unwrap_or(f64::NAN),
    }
}

/// Reads typed values out of a [`Table`], collecting errors and warnings with full context.
#[derive(Debug, Clone)]
pub(crate) struct Reader {
    pub(crate) file: Option<Arc<Path>>,
    pub(crate) errors: Vec<ConfigError>,
    pub(crate) warnings: Vec<ConfigError>,
}

impl Reader {
    pub(crate) fn new(file: Option<Arc<Path>>) -> Self {
        Self {
            file,
            errors: Vec::new(),
            warnings: Vec::new(),
        }
    }

    pub(crate) fn origin(&self, node: &Node) -> Origin {
        Origin::new(self.file.clone(), Some(node.line))
    }

    fn locate(&self, mut e: ConfigError, line: Option<usize>) -> ConfigError {
        if e.file.is_none() {
            e.file = self.file.as_ref().map(|f| f.to_path_buf());
        }
        if e.line.is_none() {
            e.line = line;
        }
        e
    }

    /// Record an error about `node` at `key`.
    pub(crate) fn error(
        &mut self,
        kind: ErrorKind,
        key: &str,
        node: &Node,
        message: impl Into<String>,
    ) {
        let e = ConfigError::new(kind, key, message).with_value(node.render());
        let e = self.locate(e, Some(node.line));
        self.errors.push(e);
    }

    /// Record an error that has no single value (e.g. a missing key) near `line`.
    pub(crate) fn error_at(
        &mut self,
        kind: ErrorKind,
        key: &str,
        line: Option<usize>,
        message: impl Into<String>,
    ) {
        let e = self.locate(ConfigError::new(kind, key, message), line);
        self.errors.push(e);
    }

    /// Warn about an unknown key (accepted and ignored, like the reference parser does).
    pub(crate) fn unknown_key(&mut self, key: &str, node: &Node) {
        let e = ConfigError::new(ErrorKind::UnknownKey, key, "unknown key, ignored")
            .with_value(node.render());
        let e = self.locate(e, Some(node.line));
        self.warnings.push(e);
    }

    fn wrong_type(&mut self, key: &str, node: &Node, expected: &str) {
        self.error(
            ErrorKind::WrongType,
            key,
            node,
            format!("expected {expected}, found {}", node.val.type_name()),
        );
    }

    pub(crate) fn table<'n>(&mut self, key: &str, node: &'n Node) -> Option<&'n Table> {
        match &node.val {
            Val::Table(t) => Some(t),
            _ => {
                self.wrong_type(key, node, "a table");
                None
            }
        }
    }

    pub(crate) fn string(&mut self, key: &str, node: &Node) -> Option<String> {
        match &node.val {
            Val::Str(s) => Some(s.clone()),
            _ => {
                self.wrong_type(key, node, "a string");
                None
            }
        }
    }

    pub(crate) fn boolean(&mut self, key: &str, node: &Node) -> Option<bool> {
        match &node.val {
            Val::Bool(b) => Some(*b),
            _ => {
                self.wrong_type(key, node, "a boolean");
                None
            }
        }
    }

    /// An integer; a float with an integral value (e.g. `3.0`) is accepted like the reference's
    /// `int()` coercion does.
    pub(crate) fn integer(&mut self, key: &str, node: &Node) -> Option<i64> {
        match &node.val {
            Val::Int(i) => Some(*i),
            Val::Float(f) if f.is_finite() && f.fract() == 0.0 && f.abs() < 9.0e15 => {
                Some(*f as i64)
            }
            Val::Float(_) => {
                self.error(
                    ErrorKind::WrongType,
                    key,
                    node,
                    "expected an integer, found a fractional number",
                );
                None
            }
            _ => {
                self.wrong_type(key, node, "an integer");
                None
            }
        }
    }

    /// A number; integers are accepted where floats are expected.
    pub(crate) fn number(&mut self, key: &str, node: &Node) -> Option<f64> {
        match &node.val {
            Val::Int(i) => Some(*i as f64),
            Val::Float(f) => Some(*f),
            _ => {
                self.wrong_type(key, node, "a number");
                None
            }
        }
    }

    pub(crate) fn string_list(&mut self, key: &str, node: &Node) -> Option<Vec<(String, usize)>> {
        match &node.val {
            Val::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                let mut ok = true;
                for (i, item) in items.iter().enumerate() {
                    match &item.val {
                        Val::Str(s) => out.push((s.clone(), item.line)),
                        _ => {
                            self.wrong_type(&format!("{key}[{i}]"), item, "a string");
                            ok = false;
                        }
                    }
                }
                ok.then_some(out)
            }
            _ => {
                self.wrong_type(key, node, "an array of strings");
                None
            }
        }
    }

    /// A string or an array of strings (the reference accepts both for `owner`).
    pub(crate) fn string_or_list(&mut self, key: &str, node: &Node) -> Option<Vec<String>> {
        match &node.val {
            Val::Str(s) => Some(vec![s.clone()]),
            Val::Array(_) => self
                .string_list(key, node)
                .map(|v| v.into_iter().map(|(s, _)| s).collect()),
            _ => {
                self.wrong_type(key, node, "a string or an array of strings");
                None
            }
        }
    }
}

/// Join a key path.
pub(crate) fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_tracked_for_keys_and_headers() {
        let t = parse_toml("a = 1\n\n[metrics.foo]\nselect_expression = \"x\"\n").unwrap();
        assert_eq!(t.get("a").unwrap().line, 1);
        let metrics = t.get("metrics").unwrap();
        let Val::Table(m) = &metrics.val else {
            panic!()
        };
        let foo = m.get("foo").unwrap();
        assert_eq!(foo.line, 3);
        let Val::Table(f) = &foo.val else { panic!() };
        assert_eq!(f.get("select_expression").unwrap().line, 4);
    }

    #[test]
    fn syntax_errors_carry_a_line() {
        let e = parse_toml("a = 1\nb = = 2\n").unwrap_err();
        assert_eq!(e.kind, ErrorKind::Syntax);
        assert_eq!(e.line, Some(2));
    }

    #[test]
    fn order_is_preserved() {
        let t = parse_toml("[x]\nz = 1\na = 2\nm = 3\n").unwrap();
        let Val::Table(x) = &t.get("x").unwrap().val else {
            panic!()
        };
        let keys: Vec<_> = x.entries.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, ["z", "a", "m"]);
    }
}
