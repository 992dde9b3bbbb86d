//! Pre-treatments (jetstream `pre_treatment.py`): row filters and value transforms applied, in
//! config order, to the metric column and to each `depends_on` column.

use jetstream_config::statistic::PreTreatment;

use crate::data::Frame;
use crate::error::StatsError;
use crate::summary::quantile;

/// Apply one pre-treatment to `column` of `frame`. `analysis_period_length` is the number of
/// days of the analysis window (used by `normalize_over_analysis_period`).
pub fn apply(
    frame: &Frame,
    column: &str,
    treatment: &PreTreatment,
    analysis_period_length: usize,
) -> Result<Frame, StatsError> {
    let col = frame.column(column)?;
    let keep_where = |pred: &dyn Fn(f64) -> bool| -> Frame {
        let keep: Vec<bool> = col.iter().map(|x| pred(*x)).collect();
        frame.filter(&keep)
    };
    let non_null: Vec<f64> = col.iter().copied().filter(|x| !x.is_nan()).collect();
    Ok(match treatment {
        // dropna: NaN rows go, infinities stay.
        PreTreatment::RemoveNulls => keep_where(&|x| !x.is_nan()),
        // +inf → NaN, then dropna (note: -inf is kept, as in the reference).
        PreTreatment::RemoveIndefinites => keep_where(&|x| !x.is_nan() && x != f64::INFINITY),
        // keep col < quantile(fraction) (pandas quantile skips NaN; NaN rows fail the test).
        PreTreatment::CensorHighestValues { fraction } => {
            let t = quantile(&non_null, *fraction);
            keep_where(&|x| x < t)
        }
        PreTreatment::CensorLowestValues { fraction } => {
            let t = quantile(&non_null, *fraction);
            keep_where(&|x| x > t)
        }
        PreTreatment::CensorValuesBelowThreshold { threshold } => keep_where(&|x| x > *threshold),
        PreTreatment::CensorValuesAboveThreshold { threshold } => keep_where(&|x| x < *threshold),
        PreTreatment::NormalizeOverAnalysisPeriod => {
            let len = analysis_period_length.max(1) as f64;
            transform(frame, column, |x| x / len)
        }
        PreTreatment::Log { base } => {
            // `if self.base:` — a base of 0 means the natural log.
            let denom = base.filter(|b| *b != 0.0).map(f64::ln);
            transform(frame, column, |x| {
                let l = if x < 0.0 { f64::NAN } else { x.ln() };
                match denom {
                    Some(d) => l / d,
                    None => l,
                }
            })
        }
        PreTreatment::ZeroFill => transform(frame, column, |x| if x.is_nan() { 0.0 } else { x }),
        _ => {
            return Err(StatsError::Invalid(format!(
                "unsupported pre-treatment {}",
                treatment.name()
            )));
        }
    })
}

fn transform(frame: &Frame, column: &str, f: impl Fn(f64) -> f64) -> Frame {
    let mut out = frame.clone();
    if let Ok(col) = frame.column(column) {
        out.set_column(column, col.iter().map(|x| f(*x)).collect());
    }
    out
}

/// Apply a list of pre-treatments to every column in `columns`, in config order.
pub fn apply_all(
    frame: &Frame,
    columns: &[&str],
    treatments: &[PreTreatment],
    analysis_period_length: usize,
) -> Result<Frame, StatsError> {
    let mut f = frame.clone();
    for t in treatments {
        for c in columns {
            f = apply(&f, c, t, analysis_period_length)?;
        }
    }
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(values: Vec<f64>) -> Frame {
        let labels: Vec<&str> = (0..values.len())
            .map(|i| if i % 2 == 0 { "a" } else { "b" })
            .collect();
        Frame::new(&labels).with_column("x", values).unwrap()
    }

    fn col(f: &Frame) -> Vec<f64> {
        f.column("x").unwrap().to_vec()
    }

    #[test]
    fn remove_nulls_keeps_infinities() {
        let f = frame(vec![1.0, f64::NAN, f64::INFINITY, 2.0]);
        let g = apply(&f, "x", &PreTreatment::RemoveNulls, 1).unwrap();
        assert_eq!(col(&g), vec![1.0, f64::INFINITY, 2.0]);
        let g = apply(&f, "x", &PreTreatment::RemoveIndefinites, 1).unwrap();
        assert_eq!(col(&g), vec![1.0, 2.0]);
    }

    #[test]
    fn censoring_shapes() {
        let f = frame((0..10_000).map(f64::from).collect());
        let g = apply(
            &f,
            "x",
            &PreTreatment::CensorHighestValues { fraction: 0.9 },
            1,
        )
        .unwrap();
        assert_eq!(g.len(), 9000);
        let g = apply(
            &f,
            "x",
            &PreTreatment::CensorLowestValues { fraction: 0.1 },
            1,
        )
        .unwrap();
        assert_eq!(g.len(), 9000);
        let h = frame((0..200).map(|i| f64::from(i) / 1000.0).collect());
        let g = apply(
            &h,
            "x",
            &PreTreatment::CensorValuesBelowThreshold { threshold: 0.1 },
            1,
        )
        .unwrap();
        assert_eq!(g.len(), 99);
        let g = apply(
            &h,
            "x",
            &PreTreatment::CensorValuesAboveThreshold { threshold: 0.1 },
            1,
        )
        .unwrap();
        assert_eq!(g.len(), 100);
    }

    #[test]
    fn log_and_zero_fill_and_normalize() {
        let f = frame((-1..=10).map(f64::from).collect());
        let g = apply(&f, "x", &PreTreatment::Log { base: Some(10.0) }, 1).unwrap();
        let v = col(&g);
        assert_eq!(v.iter().filter(|x| x.is_nan()).count(), 1);
        assert_eq!(v.iter().filter(|x| **x == f64::NEG_INFINITY).count(), 1);
        assert!((v[v.len() - 1] - 1.0).abs() < 1e-12);
        let f = Frame::new(&["a", "a"])
            .with_column("x", vec![f64::NAN, 1.0])
            .unwrap()
            .with_column("y", vec![f64::NAN, 2.0])
            .unwrap();
        let g = apply(&f, "x", &PreTreatment::ZeroFill, 1).unwrap();
        assert_eq!(col(&g), vec![0.0, 1.0]);
        assert!(g.column("y").unwrap()[0].is_nan());
        let f = frame(vec![1400.0, 7000.0]);
        let g = apply(&f, "x", &PreTreatment::NormalizeOverAnalysisPeriod, 7).unwrap();
        assert_eq!(col(&g), vec![200.0, 1000.0]);
    }
}
