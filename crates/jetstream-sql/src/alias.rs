//! Project aliasing (`--project-alias FROM=TO`): every reference to project `FROM` in generated
//! BigQuery SQL, table or routine, backticked or not, is read from project `TO` instead.
//!
//! For organisations whose telemetry and UDFs are not in `moz-fx-data-shared-prod` / `mozfun`,
//! and for emulators which know a single project.
//!
//! | before | after |
//! |---|---|
//! | `` `FROM.ds.t` `` | `` `TO.ds.t` `` |
//! | `` `FROM`.ds.t `` | `` `TO`.ds.t `` |
//! | `` `FROM.ds`.t `` | `` `TO.ds`.t `` |
//! | `FROM.ds.t`, `FROM.group.udf(x)` | `` `TO.ds.t` ``, `` `TO.group.udf`(x) `` |
//!
//! The rewrite is a scanner over the SQL text, not a parse: string literals (`'..'`, `".."`,
//! `'''..'''`, `"""..."""`, with `r`/`b` prefixes and backslash escapes) and comments (`-- ..`,
//! `# ..`, `/* .. */`) are copied untouched. A path is rewritten only where `FROM` is its first
//! component: an unquoted `FROM` must start at an identifier boundary (the previous character is
//! not an identifier character, `.`, `-` or a backtick) and be followed immediately by `.`; a
//! backticked one must not follow a `.`. Project ids are case-sensitive. All aliases apply in one
//! pass, so a `TO` is never aliased again.
//!
//! ```
//! use jetstream_sql::alias::{ProjectAlias, ProjectAliases};
//! let aliases = ProjectAliases::new(vec!["mozfun=my-udfs".parse::<ProjectAlias>()?])?;
//! assert_eq!(
//!     aliases.apply("SELECT mozfun.map.get_key(m, 'mozfun.x') FROM `mozfun.a.b`"),
//!     "SELECT `my-udfs.map.get_key`(m, 'mozfun.x') FROM `my-udfs.a.b`"
//! );
//! # Ok::<(), jetstream_sql::alias::AliasError>(())
//! ```

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

/// Why a `FROM=TO` alias, or a set of them, is rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AliasError {
    /// The value has no `=`.
    #[error("project alias {0:?} is not of the form FROM=TO")]
    MissingEquals(String),
    /// `FROM` or `TO` is empty.
    #[error("project alias {0:?} has an empty project id")]
    EmptyProject(String),
    /// A project id has a character other than an ASCII letter, digit, `-` or `_`.
    #[error(
        "project alias {value:?}: project id {project:?} may only contain ASCII letters, digits, '-' and '_'"
    )]
    InvalidProject {
        /// The whole `FROM=TO` value.
        value: String,
        /// The offending project id.
        project: String,
    },
    /// `FROM` and `TO` are the same project.
    #[error("project alias {0:?} maps a project to itself")]
    SameProject(String),
    /// Two aliases have the same `FROM`.
    #[error("project {0:?} is aliased more than once")]
    DuplicateFrom(String),
}

/// One `FROM=TO` alias: references to project `from` are read from project `to`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ProjectAlias {
    /// The project named in the generated SQL.
    pub from: String,
    /// The project actually read.
    pub to: String,
}

impl fmt::Display for ProjectAlias {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.from, self.to)
    }
}

/// A valid project id here: non-empty ASCII letters, digits, `-` and `_`.
fn is_valid_project(project: &str) -> bool {
    !project.is_empty()
        && project
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl FromStr for ProjectAlias {
    type Err = AliasError;

    /// Parses `FROM=TO` (no surrounding whitespace is stripped).
    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let (from, to) = value
            .split_once('=')
            .ok_or_else(|| AliasError::MissingEquals(value.to_owned()))?;
        if from.is_empty() || to.is_empty() {
            return Err(AliasError::EmptyProject(value.to_owned()));
        }
        if let Some(bad) = [from, to].into_iter().find(|p| !is_valid_project(p)) {
            return Err(AliasError::InvalidProject {
                value: value.to_owned(),
                project: bad.to_owned(),
            });
        }
        if from == to {
            return Err(AliasError::SameProject(value.to_owned()));
        }
        Ok(Self {
            from: from.to_owned(),
            to: to.to_owned(),
        })
    }
}

/// A set of project aliases with distinct `FROM`s, applied to SQL text in one pass.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProjectAliases(Vec<ProjectAlias>);

impl ProjectAliases {
    /// Collects aliases, rejecting a `FROM` that is aliased twice.
    pub fn new(aliases: Vec<ProjectAlias>) -> Result<Self, AliasError> {
        for (i, a) in aliases.iter().enumerate() {
            if aliases[..i].iter().any(|b| b.from == a.from) {
                return Err(AliasError::DuplicateFrom(a.from.clone()));
            }
        }
        Ok(Self(aliases))
    }

    /// Whether there are no aliases (then [`apply`](Self::apply) never changes anything).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The aliases, in the order given.
    pub fn iter(&self) -> std::slice::Iter<'_, ProjectAlias> {
        self.0.iter()
    }

    /// Rewrites every reference to an aliased project in `sql` (see the [module docs](self));
    /// borrowed when nothing changes.
    pub fn apply<'a>(&self, sql: &'a str) -> Cow<'a, str> {
        if self.0.is_empty() {
            return Cow::Borrowed(sql);
        }
        let b = sql.as_bytes();
        let n = b.len();
        let mut out = Rewriter {
            sql,
            out: None,
            copied: 0,
        };
        let mut i = 0;
        while i < n {
            let c = b[i];
            let prev = if i == 0 { None } else { Some(b[i - 1]) };
            match c {
                b'`' => {
                    let (end, closed) = skip_quoted(b, i + 1, b"`");
                    // An unterminated identifier is left alone.
                    if closed && prev != Some(b'.') {
                        let content = &b[i + 1..end - 1];
                        let followed_by_dot = b.get(end) == Some(&b'.');
                        if let Some(a) = self.0.iter().find(|a| {
                            let f = a.from.as_bytes();
                            (content.len() > f.len()
                                && content.starts_with(f)
                                && content[f.len()] == b'.')
                                || (followed_by_dot && content == f)
                        }) {
                            out.replace(i + 1, i + 1 + a.from.len(), &a.to);
                        }
                    }
                    i = end;
                }
                b'\'' | b'"' => {
                    let q = [c; 3];
                    let close: &[u8] = if b[i..].starts_with(&q) { &q } else { &q[..1] };
                    i = skip_quoted(b, i + close.len(), close).0;
                }
                b'#' => i = skip_line(b, i),
                b'-' if b.get(i + 1) == Some(&b'-') => i = skip_line(b, i),
                b'/' if b.get(i + 1) == Some(&b'*') => {
                    i = find(b, i + 2, b"*/").map_or(n, |e| e + 2);
                }
                _ => {
                    let boundary =
                        prev.is_none_or(|p| !is_ident_byte(p) && !matches!(p, b'.' | b'-' | b'`'));
                    let hit = boundary
                        .then(|| {
                            self.0.iter().find(|a| {
                                let f = a.from.as_bytes();
                                unquoted_eligible(f)
                                    && b[i..].starts_with(f)
                                    && b.get(i + f.len()) == Some(&b'.')
                            })
                        })
                        .flatten();
                    match hit {
                        Some(a) => {
                            // The whole dotted path goes into one pair of backticks
                            // (`TO.dataset.table`), the form every engine reads as one name.
                            let from_end = i + a.from.len();
                            let mut end = from_end;
                            while b.get(end) == Some(&b'.') {
                                let mut j = end + 1;
                                while j < n && is_ident_byte(b[j]) {
                                    j += 1;
                                }
                                if b.get(j) == Some(&b'*') {
                                    j += 1;
                                }
                                if j == end + 1 {
                                    break;
                                }
                                end = j;
                            }
                            let path = format!("{}{}", a.to, &sql[from_end..end]);
                            out.replace_quoted(i, end, &path);
                            i = end;
                        }
                        None => i += 1,
                    }
                }
            }
        }
        out.finish()
    }
}

impl<'a> IntoIterator for &'a ProjectAliases {
    type Item = &'a ProjectAlias;
    type IntoIter = std::slice::Iter<'a, ProjectAlias>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// The output of [`ProjectAliases::apply`], allocated at the first replacement.
struct Rewriter<'a> {
    sql: &'a str,
    out: Option<String>,
    /// `sql[..copied]` is already in `out`.
    copied: usize,
}

impl<'a> Rewriter<'a> {
    /// Replaces `sql[start..end]` by `with`.
    fn replace(&mut self, start: usize, end: usize, with: &str) {
        let out = self
            .out
            .get_or_insert_with(|| String::with_capacity(self.sql.len() + 32));
        out.push_str(&self.sql[self.copied..start]);
        out.push_str(with);
        self.copied = end;
    }

    /// Replaces `sql[start..end]` by `with` in backticks.
    fn replace_quoted(&mut self, start: usize, end: usize, with: &str) {
        self.replace(start, end, &format!("`{with}`"));
    }

    fn finish(self) -> Cow<'a, str> {
        match self.out {
            None => Cow::Borrowed(self.sql),
            Some(mut out) => {
                out.push_str(&self.sql[self.copied..]);
                Cow::Owned(out)
            }
        }
    }
}

/// A byte of an unquoted identifier; non-ASCII bytes count, so no match starts inside a word.
fn is_ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || !b.is_ascii()
}

/// Whether an unquoted `FROM` can be matched at all: it must start like an identifier (not with
/// `-`) and hold no `--`, which would start a comment.
fn unquoted_eligible(from: &[u8]) -> bool {
    from.first().is_some_and(|&c| is_ident_byte(c)) && !from.windows(2).any(|w| w == b"--")
}

/// The index past the closing `close` of a quoted token whose content starts at `start`, with
/// backslash escapes, and `true`; the end of the text and `false` when unterminated.
fn skip_quoted(b: &[u8], start: usize, close: &[u8]) -> (usize, bool) {
    let mut i = start;
    while i < b.len() {
        if b[i] == b'\\' {
            i += 2;
        } else if b[i..].starts_with(close) {
            return (i + close.len(), true);
        } else {
            i += 1;
        }
    }
    (b.len(), false)
}

/// The index of the newline ending the line comment at `start` (or the end of the text).
fn skip_line(b: &[u8], start: usize) -> usize {
    find(b, start, b"\n").unwrap_or(b.len())
}

/// The first index at or after `start` where `needle` occurs.
fn find(b: &[u8], start: usize, needle: &[u8]) -> Option<usize> {
    b.get(start..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + start)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn aliases(specs: &[&str]) -> ProjectAliases {
        ProjectAliases::new(specs.iter().map(|s| s.parse().unwrap()).collect()).unwrap()
    }

    fn moz() -> ProjectAliases {
        aliases(&["mozfun=my-udfs", "moz-fx-data-shared-prod=my-data"])
    }

    #[track_caller]
    fn check(a: &ProjectAliases, sql: &str, want: &str) {
        let got = a.apply(sql);
        assert_eq!(got, want);
        assert_eq!(matches!(got, Cow::Borrowed(_)), sql == want, "{sql}");
    }

    #[test]
    fn parses_from_eq_to() {
        let a: ProjectAlias = "moz-fx-data-shared-prod=my_org-1".parse().unwrap();
        assert_eq!(
            a,
            ProjectAlias {
                from: "moz-fx-data-shared-prod".into(),
                to: "my_org-1".into()
            }
        );
        assert_eq!(a.to_string(), "moz-fx-data-shared-prod=my_org-1");
    }

    #[test]
    fn parse_errors_name_the_value() {
        let err = |s: &str| s.parse::<ProjectAlias>().unwrap_err();
        assert_eq!(err("mozfun"), AliasError::MissingEquals("mozfun".into()));
        assert_eq!(err("=x"), AliasError::EmptyProject("=x".into()));
        assert_eq!(err("x="), AliasError::EmptyProject("x=".into()));
        assert_eq!(err("="), AliasError::EmptyProject("=".into()));
        assert_eq!(err("a=a"), AliasError::SameProject("a=a".into()));
        for (value, project) in [
            ("a.b=c", "a.b"),
            ("a=c.d", "c.d"),
            ("a=b=c", "b=c"),
            ("a b=c", "a b"),
            ("a=`c`", "`c`"),
            ("google.com:p=c", "google.com:p"),
            ("é=c", "é"),
        ] {
            assert_eq!(
                err(value),
                AliasError::InvalidProject {
                    value: value.into(),
                    project: project.into()
                }
            );
        }
        for value in ["nope", "=x", "a=a", "a.b=c"] {
            assert!(err(value).to_string().contains(value), "{value}");
        }
        assert!(err("a=c.d").to_string().contains("\"c.d\""));
    }

    #[test]
    fn duplicate_from_is_rejected() {
        let a = |s: &str| s.parse::<ProjectAlias>().unwrap();
        assert_eq!(
            ProjectAliases::new(vec![a("x=y"), a("z=w"), a("x=w")]),
            Err(AliasError::DuplicateFrom("x".into()))
        );
        let ok = ProjectAliases::new(vec![a("x=y"), a("y=x")]).unwrap();
        assert!(!ok.is_empty());
        assert_eq!(ok.iter().count(), 2);
        assert_eq!((&ok).into_iter().next(), Some(&a("x=y")));
        assert!(ProjectAliases::default().is_empty());
    }

    #[test]
    fn backticked_paths() {
        let a = moz();
        check(
            &a,
            "SELECT * FROM `moz-fx-data-shared-prod.telemetry.events` e",
            "SELECT * FROM `my-data.telemetry.events` e",
        );
        check(
            &a,
            "FROM `moz-fx-data-shared-prod`.telemetry.events",
            "FROM `my-data`.telemetry.events",
        );
        check(
            &a,
            "FROM `moz-fx-data-shared-prod.telemetry`.events",
            "FROM `my-data.telemetry`.events",
        );
        check(&a, "FROM`mozfun.a.b`", "FROM`my-udfs.a.b`");
        check(&a, "`mozfun.map.get_key`(x)", "`my-udfs.map.get_key`(x)");
        // Not the first component, not a path, another project or unterminated.
        for sql in [
            "x.`mozfun.a.b`",
            "`a`.`mozfun`.b",
            "SELECT `mozfun` FROM t",
            "`mozfun`",
            "`mozfun_x.a.b`",
            "`Mozfun.a.b`",
            "`xmozfun.a.b`",
            "`mozfun`x.a",
            "`mozfun.a.b",
            "`mozfun.a.b\\`",
            "`a\\`mozfun.b.c`",
        ] {
            check(&a, sql, sql);
        }
    }

    #[test]
    fn unquoted_paths() {
        let a = moz();
        check(
            &a,
            "SELECT * FROM moz-fx-data-shared-prod.telemetry.events",
            "SELECT * FROM `my-data.telemetry.events`",
        );
        check(
            &a,
            "SELECT mozfun.map.get_key(x, 'k') AS v",
            "SELECT `my-udfs.map.get_key`(x, 'k') AS v",
        );
        check(&a, "mozfun.a.b", "`my-udfs.a.b`");
        check(&a, "FROM mozfun.a.t_*", "FROM `my-udfs.a.t_*`");
        check(&a, "(mozfun.a.b(1))", "(`my-udfs.a.b`(1))");
        check(&a, "f(x,mozfun.a.b(y))", "f(x,`my-udfs.a.b`(y))");
        check(&a, "'s'mozfun.a.b", "'s'`my-udfs.a.b`");
        check(&a, "/**/mozfun.a.b", "/**/`my-udfs.a.b`");
        check(&a, "x\n\tmozfun.a.`b`", "x\n\t`my-udfs.a`.`b`");
        check(&a, "mozfun.`a.b`", "`my-udfs`.`a.b`");
        for sql in [
            "xmozfun.a",
            "a.mozfun.b",
            "mozfun_x.a",
            "mozfun",
            "SELECT mozfun FROM t",
            "mozfun .a",
            "Mozfun.a.b",
            "MOZFUN.a.b",
            "x-mozfun.a",
            "`x`mozfun.a",
            "1mozfun.a",
            "émozfun.a",
            "moz-fx-data-shared-prod-2.t.e",
            "my-moz-fx-data-shared-prod.t.e",
            "moz-fx-data-shared.t.e",
        ] {
            check(&a, sql, sql);
        }
    }

    #[test]
    fn literals_and_comments_are_untouched() {
        let a = moz();
        for sql in [
            "SELECT 'mozfun.a.b'",
            "SELECT \"mozfun.a.b\"",
            "SELECT '''x ' mozfun.a.b ''' y'''",
            "SELECT \"\"\"x \" `mozfun.a.b` \"\" y\"\"\"",
            "SELECT r'mozfun.a.b', b'mozfun.a.b', rb\"mozfun.a.b\", R'''mozfun.a.b'''",
            "SELECT 'it\\'s mozfun.a.b'",
            "SELECT \"a\\\" mozfun.a.b\"",
            "SELECT 1 -- mozfun.a.b",
            "SELECT 1 # `mozfun.a.b`",
            "SELECT /* mozfun.a.b\n `mozfun.a.b` */ 1",
            "SELECT 'unterminated mozfun.a.b",
            "SELECT /* unterminated mozfun.a.b",
        ] {
            check(&a, sql, sql);
        }
        check(
            &a,
            "SELECT 'mozfun.a.b', mozfun.a.b('\\'mozfun.x', \"#\") -- mozfun.a.b\n  , mozfun.a.b # x\n/* `mozfun.a.b` */ FROM `mozfun.c.d`",
            "SELECT 'mozfun.a.b', `my-udfs.a.b`('\\'mozfun.x', \"#\") -- mozfun.a.b\n  , `my-udfs.a.b` # x\n/* `mozfun.a.b` */ FROM `my-udfs.c.d`",
        );
        check(
            &a,
            "SELECT 'a' || \"\"\"b\"\"\" || '''c''', mozfun.x.y",
            "SELECT 'a' || \"\"\"b\"\"\" || '''c''', `my-udfs.x.y`",
        );
        check(&a, "1 - mozfun.a.b(x)", "1 - `my-udfs.a.b`(x)");
    }

    #[test]
    fn several_aliases_in_one_pass() {
        let a = aliases(&[
            "mozfun=udfs",
            "moz-fx-data-shared-prod=mozfun",
            "udfs=other",
        ]);
        check(
            &a,
            "SELECT mozfun.map.get_key(e.m, 'k'), udfs.a.b(1)\nFROM `moz-fx-data-shared-prod.telemetry.events` AS e\nJOIN moz-fx-data-shared-prod.telemetry.clients c USING (client_id)\nJOIN `moz-fx-data-shared-prod`.search.s USING (client_id)",
            "SELECT `udfs.map.get_key`(e.m, 'k'), `other.a.b`(1)\nFROM `mozfun.telemetry.events` AS e\nJOIN `mozfun.telemetry.clients` c USING (client_id)\nJOIN `mozfun`.search.s USING (client_id)",
        );
    }

    #[test]
    fn unchanged_sql_is_borrowed() {
        let sql = "SELECT `other.a.b`, x.mozfun.y FROM t -- mozfun.a.b";
        assert!(matches!(moz().apply(sql), Cow::Borrowed(s) if s == sql));
        assert!(matches!(
            ProjectAliases::default().apply("mozfun.a.b"),
            Cow::Borrowed("mozfun.a.b")
        ));
    }

    #[test]
    fn hyphen_only_projects_are_matched_backticked_only() {
        let a = aliases(&["a--b=c", "-x=y"]);
        check(&a, "a--b.t.u", "a--b.t.u");
        check(&a, "1 -x.t", "1 -x.t");
        check(&a, "`a--b.t.u`, `-x`.t", "`c.t.u`, `y`.t");
    }

    const FROM: &str = "moz-fx-data-shared-prod";

    /// Pieces of SQL that cannot concatenate into `mozfun` or `moz-fx-data-shared-prod`.
    fn sql_without_from() -> impl Strategy<Value = String> {
        let tokens = prop::sample::select(vec![
            "mozfu",
            "ozfun",
            "moz",
            "-fx",
            "moz-fx-data",
            "shared-prod",
            ".",
            "`",
            "'",
            "\"",
            "'''",
            "\"\"\"",
            "\\",
            "-",
            "--",
            "#",
            "/*",
            "*/",
            "\n",
            " ",
            "x",
            "map",
            "get_key",
            "(",
            ")",
            ",",
            "r'",
            "b\"",
            "é",
            "_",
        ]);
        prop::collection::vec(tokens, 0..40).prop_map(|t| t.concat())
    }

    fn project() -> impl Strategy<Value = String> {
        prop::collection::vec(
            prop::sample::select(vec!['a', 'b', 'z', '0', '9', '-', '_']),
            1..10,
        )
        .prop_map(|c| c.into_iter().collect())
    }

    fn ident() -> impl Strategy<Value = String> {
        prop::collection::vec(prop::sample::select(vec!['a', 'q', '_', '7']), 1..6)
            .prop_map(|c| c.into_iter().collect())
    }

    /// Text between references: no `.`, quote, comment start or hyphen, so never rewritten.
    fn filler() -> impl Strategy<Value = String> {
        prop::collection::vec(
            prop::sample::select(vec![" ", "\n", ",", "(", ")", "SELECT", "FROM", "x", "1"]),
            0..5,
        )
        .prop_map(|t| t.concat())
    }

    proptest! {
        #[test]
        fn sql_without_from_is_unchanged(sql in sql_without_from()) {
            prop_assume!(!sql.contains("mozfun") && !sql.contains(FROM));
            let got = moz().apply(&sql);
            prop_assert!(matches!(got, Cow::Borrowed(_)));
            prop_assert_eq!(got, sql.as_str());
        }

        #[test]
        fn arbitrary_text_does_not_panic(sql in any::<String>()) {
            let _ = moz().apply(&sql);
        }

        #[test]
        fn backticked_references_round_trip(
            from in project(),
            to in project(),
            refs in prop::collection::vec((filler(), ident(), ident(), 0..3u8), 1..6),
            tail in filler(),
        ) {
            prop_assume!(from != to);
            let mut sql = String::new();
            for (fill, x, y, form) in &refs {
                sql.push_str(fill);
                sql.push_str(&match form {
                    0 => format!("`{from}.{x}.{y}`"),
                    1 => format!("`{from}`.{x}.{y}"),
                    _ => format!("`{from}.{x}`.{y}"),
                });
            }
            sql.push_str(&tail);
            let there = aliases(&[&format!("{from}={to}")]);
            let back = aliases(&[&format!("{to}={from}")]);
            let moved = there.apply(&sql);
            prop_assert_eq!(moved.matches(&format!("`{to}")).count(), refs.len());
            let (dotted, quoted) = (format!("`{from}."), format!("`{from}`"));
            prop_assert!(!moved.contains(&dotted) && !moved.contains(&quoted));
            prop_assert_eq!(back.apply(&moved), sql.as_str());
        }
    }
}
