//! The alert of `jetstream errors --notify`: a short message about the logged ERROR rows
//! (counts, the experiments with errors, the first messages), posted as Slack-compatible JSON
//! (`{"text": …}`) to a webhook. Warnings alone page no one.

use jetstream_warehouse::{Columns, LogLevel};

#[cfg(feature = "http")]
use crate::JobError;

/// Messages quoted in an alert, at most.
const QUOTED: usize = 5;
/// Characters of one quoted message, at most.
const QUOTE_CHARS: usize = 300;

/// What an alert says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    /// ERROR rows.
    pub errors: usize,
    /// Other rows (warnings).
    pub warnings: usize,
    /// The message (plain text with Slack's `*bold*` and bullets).
    pub text: String,
}

/// The indices of the ERROR rows of `rows` (monitoring rows with a `log_level` column).
pub fn error_rows(rows: &Columns) -> Vec<usize> {
    match rows.get("log_level").and_then(|c| c.as_text()) {
        Some(levels) => levels
            .iter()
            .enumerate()
            .filter(|(_, l)| l.as_deref().and_then(LogLevel::parse) == Some(LogLevel::Error))
            .map(|(i, _)| i)
            .collect(),
        None => Vec::new(),
    }
}

/// The alert for `rows` (as [`crate::Job::logged`] returns them: newest first, with
/// `log_level`, `experiment`, `exception_type` and `message`) logged since `since`; `None`
/// when no row is an ERROR.
pub fn alert(rows: &Columns, since: &str) -> Option<Alert> {
    let text = |name: &str| -> Vec<Option<String>> {
        rows.get(name)
            .and_then(|c| c.as_text())
            .map(<[Option<String>]>::to_vec)
            .unwrap_or_else(|| vec![None; rows.rows()])
    };
    let (experiments, kinds, messages) =
        (text("experiment"), text("exception_type"), text("message"));
    let errors = error_rows(rows);
    if errors.is_empty() {
        return None;
    }
    let warnings = rows.rows() - errors.len();
    // Experiments by their number of errors, most first (then by name).
    let mut by_experiment: Vec<(String, usize)> = Vec::new();
    for &i in &errors {
        let slug = experiments[i]
            .clone()
            .unwrap_or_else(|| "(no experiment)".into());
        match by_experiment.iter_mut().find(|(s, _)| *s == slug) {
            Some((_, n)) => *n += 1,
            None => by_experiment.push((slug, 1)),
        }
    }
    by_experiment.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    let listed: Vec<String> = by_experiment
        .iter()
        .take(20)
        .map(|(s, n)| format!("{} ({n})", clean(s, 80)))
        .collect();
    let more_experiments = by_experiment.len().saturating_sub(listed.len());
    let mut out = format!(
        "*jetstream*: {} and {} since {since} in {}: {}{}",
        plural(errors.len(), "error"),
        plural(warnings, "warning"),
        plural(by_experiment.len(), "experiment"),
        listed.join(", "),
        if more_experiments > 0 {
            format!(" and {more_experiments} more")
        } else {
            String::new()
        }
    );
    for &i in errors.iter().take(QUOTED) {
        out.push_str(&format!(
            "\n• {} [{}] {}",
            clean(experiments[i].as_deref().unwrap_or("-"), 80),
            clean(kinds[i].as_deref().unwrap_or("error"), 60),
            clean(messages[i].as_deref().unwrap_or(""), QUOTE_CHARS)
        ));
    }
    if errors.len() > QUOTED {
        out.push_str(&format!(
            "\n… and {} more: `jetstream errors --since {since}`",
            errors.len() - QUOTED
        ));
    }
    Some(Alert {
        errors: errors.len(),
        warnings,
        text: out,
    })
}

/// `text` on one line, control characters shown as spaces, cut to `max` characters, and
/// Slack's markup characters escaped (`&`, `<`, `>`: a message from a log row cannot ping a
/// channel, `<!channel>`, nor plant a link).
fn clean(text: &str, max: usize) -> String {
    let mut out = String::new();
    for c in text.chars().take(max) {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    if text.chars().count() > max {
        out.push('…');
    }
    out
}

/// Post `alert` to the webhook `url` as `{"text": …}` (feature `http`), retried on connection failures,
/// timeouts, 429 and 5xx (at most `attempts` attempts, each within `timeout`). The error names
/// the URL's scheme and host only: its path is the secret.
#[cfg(feature = "http")]
pub fn notify(
    url: &str,
    alert: &Alert,
    attempts: u32,
    timeout: std::time::Duration,
) -> Result<(), JobError> {
    let policy = jetstream_gcp::RetryPolicy {
        max_attempts: attempts.max(1),
        initial_backoff: std::time::Duration::from_millis(500),
        max_backoff: std::time::Duration::from_secs(8),
        request_timeout: timeout,
    };
    let body = serde_json::json!({ "text": alert.text });
    jetstream_gcp::webhook::post_json(url, &body, &policy).map_err(|e| JobError::Notify {
        what: "--notify".into(),
        source: Box::new(e),
    })
}

/// What may be shown of a webhook URL: `scheme://host/…`.
#[cfg(feature = "http")]
pub fn redacted(url: &str) -> String {
    jetstream_gcp::webhook::redact(url)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jetstream_warehouse::Column;

    fn rows(levels: &[&str]) -> Columns {
        let n = levels.len();
        let text = |f: &dyn Fn(usize) -> String| Column::Text((0..n).map(|i| Some(f(i))).collect());
        Columns::from_pairs(vec![
            ("log_level".into(), text(&|i| levels[i].to_string())),
            (
                "experiment".into(),
                text(&|i| {
                    if i % 3 == 0 {
                        "exp-a".into()
                    } else {
                        "exp-b".into()
                    }
                }),
            ),
            ("exception_type".into(), text(&|_| "PodOOMKilled".into())),
            (
                "message".into(),
                text(&|i| format!("step {i} failed\n\u{1b}[31mred")),
            ),
        ])
        .unwrap()
    }

    #[test]
    fn warnings_alone_raise_no_alert() {
        assert_eq!(alert(&rows(&["WARNING", "WARNING"]), "2026-12-06"), None);
        assert_eq!(alert(&Columns::default(), "2026-12-06"), None);
    }

    #[test]
    fn an_alert_counts_names_and_quotes_a_few() {
        let levels = [
            "ERROR", "ERROR", "WARNING", "ERROR", "ERROR", "ERROR", "ERROR", "ERROR",
        ];
        let a = alert(&rows(&levels), "2026-12-06").unwrap();
        assert_eq!((a.errors, a.warnings), (7, 1));
        let first = a.text.lines().next().unwrap();
        assert_eq!(
            first,
            "*jetstream*: 7 errors and 1 warning since 2026-12-06 in 2 experiments: \
             exp-b (4), exp-a (3)"
        );
        assert_eq!(a.text.lines().filter(|l| l.starts_with('•')).count(), 5);
        assert!(a.text.contains("… and 2 more"), "{}", a.text);
        // One line per message, no control character (escape sequences, newlines) quoted.
        assert!(a.text.contains("step 0 failed  [31mred"), "{}", a.text);
        assert!(!a.text.chars().any(|c| c.is_control() && c != '\n'));
    }

    #[test]
    fn log_text_cannot_ping_a_channel_or_plant_a_link() {
        let rows = Columns::from_pairs(vec![
            ("log_level".into(), Column::Text(vec![Some("ERROR".into())])),
            ("experiment".into(), Column::Text(vec![Some("x".into())])),
            (
                "exception_type".into(),
                Column::Text(vec![Some("E".into())]),
            ),
            (
                "message".into(),
                Column::Text(vec![Some(
                    "<!channel> see <https://evil.example|docs> & co".into(),
                )]),
            ),
        ])
        .unwrap();
        let a = alert(&rows, "2026-12-07T04:00:00Z").unwrap();
        assert!(!a.text.contains('<') && !a.text.contains('>'), "{}", a.text);
        assert!(a.text.contains("&lt;!channel&gt;") && a.text.contains("&amp; co"));
    }
}
