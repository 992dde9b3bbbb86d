//! Experiment statistics with the semantics of Mozilla's jetstream/mozanalysis.
//!
//! Input is columnar ([`Frame`]: a branch label per client and numeric columns, NaN = NULL);
//! output is rows shaped like jetstream's statistics table ([`Row`]). [`run`] applies the
//! configured pre-treatments and then the statistic for every branch and every ordered pair of
//! branches. Statistics and their parameters come from `jetstream_config::statistic`.
//!
//! Resampling statistics draw each branch's samples **once** (the reference redraws per
//! reference branch) and are reproducible for a seed whatever the number of threads.
//!
//! ```
//! use jetstream_config::statistic::{PreTreatment, Statistic};
//! use jetstream_stats::{Context, Frame, run};
//!
//! let branches = ["control", "treatment", "control", "treatment", "control", "treatment"];
//! let frame = Frame::new(&branches)
//!     .with_column("active_hours", vec![1.0, 2.0, 3.0, f64::NAN, 2.0, 4.0])?;
//! let mut ctx = Context::new("active_hours");
//! ctx.seed = 42;
//! let stat = Statistic::BootstrapMean {
//!     num_samples: 1000, drop_highest: 0.0, confidence_interval: 0.95, always_valid: None,
//! };
//! let rows = run(&stat, &[PreTreatment::RemoveNulls], &frame, "active_hours", &[], 7, &ctx)?;
//! // 2 per-branch rows, then difference and relative uplift for both ordered pairs
//! assert_eq!(rows.len(), 2 + 2 * 2);
//! assert_eq!(rows[0].statistic, "mean");
//! # Ok::<(), jetstream_stats::StatsError>(())
//! ```

mod compute;
mod data;
pub mod density;
mod error;
mod linear;
mod pretreat;
pub mod resample;
mod row;
pub mod sequential;
pub mod srm;
pub mod summary;

pub use compute::{Context, Note, NoteLevel, Notes, apply, dedupe, filter_outliers};
pub use data::Frame;
pub use error::StatsError;
pub use pretreat::{apply as apply_pre_treatment, apply_all as apply_pre_treatments};
pub use row::{Comparison, Row, finite, format_parameter};

use jetstream_config::statistic::{PreTreatment, Statistic};

/// Run one summary: pre-treatments on `column` and on the `depends_on` columns (in config
/// order), then the statistic. `analysis_period_length` is the window length in days.
pub fn run(
    statistic: &Statistic,
    pre_treatments: &[PreTreatment],
    frame: &Frame,
    column: &str,
    depends_on: &[&str],
    analysis_period_length: usize,
    ctx: &Context,
) -> Result<Vec<Row>, StatsError> {
    let mut columns: Vec<&str> = Vec::new();
    if frame.has_column(column) {
        columns.push(column);
    }
    columns.extend(depends_on.iter().copied());
    let treated = pretreat::apply_all(frame, &columns, pre_treatments, analysis_period_length)?;
    apply(statistic, &treated, column, ctx)
}
