//! Row-wise steps of the forward pass: layer norm (with the residual added first) and L2
//! normalisation.

/// LayerNorm parameters.
pub(crate) struct Norm {
    pub(crate) gamma: Vec<f32>,
    pub(crate) beta: Vec<f32>,
    pub(crate) eps: f32,
}

impl Norm {
    /// `x = LayerNorm(x + residual)` for every row of width `gamma.len()`.
    pub(crate) fn add_and_norm(&self, xs: &mut [f32], residual: Option<&[f32]>) {
        let h = self.gamma.len();
        for (r, row) in xs.chunks_exact_mut(h).enumerate() {
            if let Some(res) = residual {
                for (x, &y) in row.iter_mut().zip(&res[r * h..(r + 1) * h]) {
                    *x += y;
                }
            }
            self.norm_row(row);
        }
    }

    fn norm_row(&self, row: &mut [f32]) {
        let h = row.len() as f32;
        let mean = sum(row) / h;
        for x in row.iter_mut() {
            *x -= mean;
        }
        let var = sum_sq(row) / h;
        let inv = 1.0 / (var + self.eps).sqrt();
        for ((x, &g), &b) in row.iter_mut().zip(&self.gamma).zip(&self.beta) {
            *x = *x * inv * g + b;
        }
    }
}

const LANES: usize = 16;

/// Sum with 16 partial sums, so the loop vectorises.
fn sum(xs: &[f32]) -> f32 {
    let mut acc = [0f32; LANES];
    let mut chunks = xs.chunks_exact(LANES);
    for c in &mut chunks {
        for (a, &v) in acc.iter_mut().zip(c) {
            *a += v;
        }
    }
    acc.iter().sum::<f32>() + chunks.remainder().iter().sum::<f32>()
}

fn sum_sq(xs: &[f32]) -> f32 {
    let mut acc = [0f32; LANES];
    let mut chunks = xs.chunks_exact(LANES);
    for c in &mut chunks {
        for (a, &v) in acc.iter_mut().zip(c) {
            *a += v * v;
        }
    }
    acc.iter().sum::<f32>() + chunks.remainder().iter().map(|v| v * v).sum::<f32>()
}

/// Row-wise `x / max(||x||, 1e-12)`, as torch's `normalize`.
pub(crate) fn l2_normalize_rows(xs: &mut [f32], width: usize) {
    for row in xs.chunks_exact_mut(width.max(1)) {
        let norm = sum_sq(row).sqrt().max(1e-12);
        for x in row {
            *x /= norm;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layer_norm_of_a_row() {
        let norm = Norm {
            gamma: vec![1.0, 2.0, 1.0, 1.0],
            beta: vec![0.0, 0.0, 1.0, 0.0],
            eps: 1e-12,
        };
        let mut x = vec![1.0, 2.0, 3.0, 4.0];
        norm.add_and_norm(&mut x, Some(&[1.0, 1.0, 1.0, 1.0]));
        // mean 3.5, variance 1.25
        let s = 1.25f32.sqrt();
        let want = [-1.5 / s, 2.0 * -0.5 / s, 0.5 / s + 1.0, 1.5 / s];
        for (a, b) in x.iter().zip(want) {
            assert!((a - b).abs() < 1e-6, "{x:?}");
        }
    }

    #[test]
    fn l2_rows_have_unit_norm() {
        let mut x = vec![3.0, 4.0, 0.0, 0.0];
        l2_normalize_rows(&mut x, 2);
        assert_eq!(x, vec![0.6, 0.8, 0.0, 0.0]);
    }
}
