//! Numbers as an analyst reads them.

/// A value with about four significant digits, thousands separated (`12,346`, `1.235`,
/// `0.01235`); `–` for a missing one.
pub(crate) fn value(v: Option<f64>) -> String {
    let Some(v) = v.filter(|v| v.is_finite()) else {
        return "–".into();
    };
    if v == 0.0 {
        return "0".into();
    }
    let magnitude = v.abs().log10().floor() as i32;
    if !(-4..15).contains(&magnitude) {
        return format!("{v:.3e}");
    }
    let decimals = (3 - magnitude).clamp(0, 8) as usize;
    let text = format!("{v:.decimals$}");
    let text = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    };
    group_thousands(&text)
}

/// A relative difference in percent with its sign (`+5.2%`, `-0.04%`).
pub(crate) fn percent(v: Option<f64>) -> String {
    let Some(v) = v.filter(|v| v.is_finite()) else {
        return "–".into();
    };
    let p = v * 100.0;
    if p != 0.0 && p.abs() < 0.1 {
        format!("{p:+.2}%")
    } else {
        format!("{p:+.1}%")
    }
}

/// A signed absolute difference (`+0.123`, `-1,204`).
pub(crate) fn signed(v: Option<f64>) -> String {
    match v.filter(|v| v.is_finite()) {
        Some(v) if v > 0.0 => format!("+{}", value(Some(v))),
        other => value(other),
    }
}

/// `[lower, upper]` with `f` for each bound; empty when both are missing.
pub(crate) fn interval(
    lower: Option<f64>,
    upper: Option<f64>,
    f: fn(Option<f64>) -> String,
) -> String {
    if lower.is_none() && upper.is_none() {
        return String::new();
    }
    format!("[{}, {}]", f(lower), f(upper))
}

/// A p-value (`0.43`, `1.2e-5`).
pub(crate) fn p_value(p: f64) -> String {
    if p >= 0.001 {
        format!("{p:.3}")
    } else {
        format!("{p:.1e}")
    }
}

/// A count with thousands separated.
pub(crate) fn count(n: u64) -> String {
    group_thousands(&n.to_string())
}

fn group_thousands(text: &str) -> String {
    let (sign, rest) = match text.strip_prefix('-') {
        Some(r) => ("-", r),
        None => ("", text),
    };
    let (int, frac) = match rest.find('.') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    if int.len() <= 4 {
        return text.to_string();
    }
    let mut grouped = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("{sign}{grouped}{frac}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_keep_four_significant_digits() {
        assert_eq!(value(Some(12345.678)), "12,346");
        assert_eq!(value(Some(-1234567.0)), "-1,234,567");
        assert_eq!(value(Some(1.23456)), "1.235");
        assert_eq!(value(Some(0.0123456)), "0.01235");
        assert_eq!(value(Some(2.0)), "2");
        assert_eq!(value(Some(0.0)), "0");
        assert_eq!(value(Some(1234.0)), "1234");
        assert_eq!(value(Some(1e-7)), "1.000e-7");
        assert_eq!(value(None), "–");
        assert_eq!(value(Some(f64::NAN)), "–");
    }

    #[test]
    fn percents_and_signs() {
        assert_eq!(percent(Some(0.0523)), "+5.2%");
        assert_eq!(percent(Some(-0.0004)), "-0.04%");
        assert_eq!(percent(Some(0.0)), "+0.0%");
        assert_eq!(signed(Some(0.5)), "+0.5");
        assert_eq!(signed(Some(-12000.0)), "-12,000");
        assert_eq!(interval(Some(0.01), Some(0.02), percent), "[+1.0%, +2.0%]");
        assert_eq!(interval(None, None, percent), "");
        assert_eq!(p_value(0.4321), "0.432");
        assert_eq!(p_value(0.0000123), "1.2e-5");
        assert_eq!(count(10000), "10,000");
    }
}
