//! Token embeddings of one text.

/// The output vectors of one text: `rows x dim`, row-major, each row L2-normalised
/// (for projected checkpoints and plain models alike).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Embeddings {
    /// Width of a row.
    pub dim: usize,
    /// `rows * dim` values.
    pub data: Vec<f32>,
}

impl Embeddings {
    /// Number of vectors.
    pub fn rows(&self) -> usize {
        self.data.len().checked_div(self.dim).unwrap_or(0)
    }

    /// True when there are no vectors.
    pub fn is_empty(&self) -> bool {
        self.rows() == 0
    }

    /// Vector `i`. Panics if `i >= rows()`.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.dim..(i + 1) * self.dim]
    }

    /// Iterates over the vectors.
    pub fn iter_rows(&self) -> impl Iterator<Item = &[f32]> {
        self.data.chunks_exact(self.dim.max(1))
    }

    /// Exact MaxSim of `self` (a query) against `doc`: the sum over query vectors of the best
    /// dot product with any document vector. 0 when either side is empty.
    pub fn maxsim(&self, doc: &Embeddings) -> f32 {
        if doc.is_empty() {
            return 0.0;
        }
        self.iter_rows()
            .map(|q| {
                doc.iter_rows()
                    .map(|d| dot(q, d))
                    .fold(f32::NEG_INFINITY, f32::max)
            })
            .sum()
    }
}

/// Dot product of two equally long slices.
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn maxsim_small_example() {
        let q = Embeddings {
            dim: 2,
            data: vec![1.0, 0.0, 0.0, 1.0],
        };
        let d = Embeddings {
            dim: 2,
            data: vec![0.6, 0.8, -1.0, 0.0],
        };
        assert!((q.maxsim(&d) - (0.6 + 0.8)).abs() < 1e-6);
        assert_eq!(
            q.maxsim(&Embeddings {
                dim: 2,
                data: vec![]
            }),
            0.0
        );
    }

    proptest! {
        #[test]
        fn maxsim_is_at_least_any_single_pairing(
            q in proptest::collection::vec(-1.0f32..1.0, 8),
            d in proptest::collection::vec(-1.0f32..1.0, 12),
        ) {
            let q = Embeddings { dim: 4, data: q };
            let d = Embeddings { dim: 4, data: d };
            let first: f32 = q.iter_rows().map(|r| dot(r, d.row(0))).sum();
            prop_assert!(q.maxsim(&d) >= first - 1e-5);
            prop_assert_eq!(q.rows(), 2);
        }
    }
}
