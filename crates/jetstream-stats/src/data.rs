//! Columnar input: branch labels plus numeric columns, where NaN stands for NULL (as in pandas).

use crate::error::StatsError;

/// Per-client rows: one branch label per row and named numeric columns of the same length.
///
/// Missing values are `f64::NAN` (booleans are 0.0/1.0). This is pandas' model: `NaN` *is* null,
/// while `±inf` are values.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Frame {
    branches: Vec<String>,
    codes: Vec<u32>,
    columns: Vec<(String, Vec<f64>)>,
}

impl Frame {
    /// A frame from branch labels; add columns with [`Frame::with_column`].
    pub fn new<S: AsRef<str>>(branch_labels: &[S]) -> Self {
        let mut branches: Vec<String> = Vec::new();
        let mut codes = Vec::with_capacity(branch_labels.len());
        for b in branch_labels {
            let b = b.as_ref();
            let code = match branches.iter().position(|x| x == b) {
                Some(i) => i,
                None => {
                    branches.push(b.to_string());
                    branches.len() - 1
                }
            };
            codes.push(code as u32);
        }
        Self {
            branches,
            codes,
            columns: Vec::new(),
        }
    }

    /// A frame from branch codes into `branches` (as [`Frame::new`] would build from labels,
    /// without a string per row). Branches without rows are dropped, as `df.branch.unique()`
    /// would not see them; the remaining keep their order of first appearance.
    pub fn from_codes(branches: &[String], codes: &[u32]) -> Result<Self, StatsError> {
        let mut remap: Vec<Option<u32>> = vec![None; branches.len()];
        let mut kept: Vec<String> = Vec::new();
        let mut out = Vec::with_capacity(codes.len());
        for &c in codes {
            let slot = remap.get_mut(c as usize).ok_or_else(|| {
                StatsError::Input(format!(
                    "branch code {c} but only {} branches",
                    branches.len()
                ))
            })?;
            let code = match *slot {
                Some(code) => code,
                None => {
                    kept.push(branches[c as usize].clone());
                    let code = (kept.len() - 1) as u32;
                    *slot = Some(code);
                    code
                }
            };
            out.push(code);
        }
        Ok(Self {
            branches: kept,
            codes: out,
            columns: Vec::new(),
        })
    }

    /// Add a column (NaN = NULL).
    pub fn with_column(mut self, name: &str, values: Vec<f64>) -> Result<Self, StatsError> {
        if values.len() != self.codes.len() {
            return Err(StatsError::Input(format!(
                "column {name} has {} values but there are {} rows",
                values.len(),
                self.codes.len()
            )));
        }
        self.columns.retain(|(n, _)| n != name);
        self.columns.push((name.to_string(), values));
        Ok(self)
    }

    /// Add a column of optional values (None = NULL).
    pub fn with_optional_column(
        self,
        name: &str,
        values: &[Option<f64>],
    ) -> Result<Self, StatsError> {
        let v = values.iter().map(|x| x.unwrap_or(f64::NAN)).collect();
        self.with_column(name, v)
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.codes.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.codes.is_empty()
    }

    /// Branch names in order of first appearance (pandas' `unique()` order).
    pub fn branches(&self) -> &[String] {
        &self.branches
    }

    /// Branch code of every row (index into [`Frame::branches`]).
    pub fn codes(&self) -> &[u32] {
        &self.codes
    }

    /// A column by name.
    pub fn column(&self, name: &str) -> Result<&[f64], StatsError> {
        self.columns
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_slice())
            .ok_or_else(|| StatsError::MissingColumn(name.to_string()))
    }

    /// Whether a column exists.
    pub fn has_column(&self, name: &str) -> bool {
        self.columns.iter().any(|(n, _)| n == name)
    }

    /// Keep the rows where `keep` is true; branches that lose all rows disappear.
    pub fn filter(&self, keep: &[bool]) -> Frame {
        let mut labels: Vec<&str> = Vec::new();
        for (i, k) in keep.iter().enumerate() {
            if *k {
                labels.push(&self.branches[self.codes[i] as usize]);
            }
        }
        let mut f = Frame::new(&labels);
        for (name, values) in &self.columns {
            let v: Vec<f64> = values
                .iter()
                .zip(keep)
                .filter(|(_, k)| **k)
                .map(|(x, _)| *x)
                .collect();
            f.columns.push((name.clone(), v));
        }
        f
    }

    /// Replace a column's values (same length).
    pub(crate) fn set_column(&mut self, name: &str, values: Vec<f64>) {
        if let Some((_, v)) = self.columns.iter_mut().find(|(n, _)| n == name) {
            *v = values;
        } else {
            self.columns.push((name.to_string(), values));
        }
    }

    /// The values of `column` for branch index `b`.
    pub fn branch_values(&self, column: &str, b: usize) -> Result<Vec<f64>, StatsError> {
        let col = self.column(column)?;
        Ok(col
            .iter()
            .zip(&self.codes)
            .filter(|(_, c)| **c as usize == b)
            .map(|(x, _)| *x)
            .collect())
    }

    /// Index of a branch by name.
    pub fn branch_index(&self, name: &str) -> Option<usize> {
        self.branches.iter().position(|b| b == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn branches_in_order_of_appearance() {
        let f = Frame::new(&["t", "c", "t"])
            .with_column("x", vec![1.0, 2.0, 3.0])
            .unwrap();
        assert_eq!(f.branches(), ["t", "c"]);
        assert_eq!(f.branch_values("x", 0).unwrap(), vec![1.0, 3.0]);
        let g = f.filter(&[false, true, false]);
        assert_eq!(g.branches(), ["c"]);
        assert!(f.clone().with_column("y", vec![1.0]).is_err());
        assert!(matches!(f.column("z"), Err(StatsError::MissingColumn(_))));
    }
}
