//! Linear layers `y = x · Wᵀ + b` over rows of `f32`, with the output columns split over
//! threads and an activation applied to each share while it is in cache.

use gemm::Parallelism;

use super::matmul::{matmul, Rhs};
use super::parallel::{for_each_range, SharedMut};
use super::precision::{PackedWeight, Precision};

/// What follows the bias.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Activation {
    /// Nothing.
    Identity,
    /// The exact (erf) GELU.
    GeluErf,
    /// The tanh-approximated GELU.
    GeluTanh,
    /// ReLU.
    Relu,
    /// tanh (sentence-transformers' Dense default).
    Tanh,
}

/// Output columns per share: a multiple of the widest SIMD width and of the reduced-precision
/// kernels' 16-column tiles.
const COLUMN_ALIGN: usize = 64;

/// One linear layer.
pub(crate) struct Linear {
    weight: PackedWeight,
    bias: Option<Vec<f32>>,
    in_features: usize,
    out_features: usize,
}

impl Linear {
    /// From `weight` `[out, in]` row-major (as `nn.Linear` stores it) and an optional bias,
    /// kept at `precision` (reduced precisions fall back to f32 where the CPU lacks them).
    pub(crate) fn new(
        weight: Vec<f32>,
        bias: Option<Vec<f32>>,
        in_features: usize,
        out_features: usize,
        precision: Precision,
    ) -> Self {
        debug_assert_eq!(weight.len(), in_features * out_features);
        Self {
            weight: PackedWeight::new(weight, in_features, out_features, precision),
            bias,
            in_features,
            out_features,
        }
    }

    /// Output width.
    pub(crate) fn out_features(&self) -> usize {
        self.out_features
    }

    /// The precision the weights are kept at.
    pub(crate) fn precision(&self) -> Precision {
        self.weight.precision()
    }

    /// `dst[rows, out] = act(x[rows, in] · Wᵀ + b)`, the columns split over `threads` tasks of
    /// the current rayon pool.
    pub(crate) fn forward(
        &self,
        x: &[f32],
        rows: usize,
        dst: &mut [f32],
        threads: usize,
        act: Activation,
    ) {
        let (k, n) = (self.in_features, self.out_features);
        debug_assert_eq!(x.len(), rows * k);
        debug_assert_eq!(dst.len(), rows * n);
        if rows == 0 {
            return;
        }
        // Reduced precisions convert the activations once, before the columns are shared out.
        let prepared = self.weight.prepare(x, rows, k);
        let out = SharedMut(dst.as_mut_ptr());
        for_each_range(n, threads, COLUMN_ALIGN, |cols| {
            // Bias and activation on rows of this task's columns, once they are written.
            let mut finish_rows = |rows: std::ops::Range<usize>| {
                for r in rows {
                    // SAFETY: this task's columns of row `r`; no other task touches them.
                    let row = unsafe {
                        std::slice::from_raw_parts_mut(
                            out.get().add(r * n + cols.start),
                            cols.len(),
                        )
                    };
                    if let Some(b) = &self.bias {
                        for (y, &b) in row.iter_mut().zip(&b[cols.clone()]) {
                            *y += b;
                        }
                    }
                    apply(act, row);
                }
            };
            match &self.weight {
                PackedWeight::F32(wt) => {
                    // SAFETY: `x` is `rows x k`, `wt` is `k x n`, and this task writes only
                    // columns `cols` of the `rows x n` destination.
                    unsafe {
                        matmul(
                            (rows, cols.len(), k),
                            (out.get().add(cols.start), n),
                            (x.as_ptr(), k),
                            Rhs::Rows(wt.as_ptr().add(cols.start), n),
                            1.0,
                            Parallelism::None,
                        )
                    }
                    finish_rows(0..rows);
                }
                packed => {
                    // SAFETY: as above, disjoint columns of the `rows x n` destination.
                    unsafe {
                        packed.matmul_cols(
                            &prepared,
                            rows,
                            out.get(),
                            n,
                            cols.clone(),
                            &mut finish_rows,
                        )
                    }
                }
            }
        });
    }
}

/// Applies `act` in place.
pub(crate) fn apply(act: Activation, xs: &mut [f32]) {
    match act {
        Activation::Identity => {}
        Activation::GeluErf => crate::gelu::gelu_in_place(xs),
        Activation::GeluTanh => {
            for x in xs {
                let v = *x;
                let inner = 0.797_884_6 * (v + 0.044_715 * v * v * v);
                *x = 0.5 * v * (1.0 + inner.tanh());
            }
        }
        Activation::Relu => {
            for x in xs {
                *x = x.max(0.0);
            }
        }
        Activation::Tanh => {
            for x in xs {
                *x = x.tanh();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `x · Wᵀ + b` in f64.
    fn reference(x: &[f32], w: &[f32], b: &[f32], rows: usize, k: usize, n: usize) -> Vec<f64> {
        let mut y = vec![0f64; rows * n];
        for r in 0..rows {
            for c in 0..n {
                let dot: f64 = (0..k)
                    .map(|i| x[r * k + i] as f64 * w[c * k + i] as f64)
                    .sum();
                y[r * n + c] = dot + b[c] as f64;
            }
        }
        y
    }

    fn data(len: usize, seed: usize) -> Vec<f32> {
        (0..len)
            .map(|i| (((i * 7919 + seed * 104_729) % 2001) as f32 - 1000.0) * 1e-3)
            .collect()
    }

    #[test]
    fn f32_matches_the_reference_for_any_thread_count() {
        let (rows, k, n) = (5, 72, 200);
        let (x, w, b) = (data(rows * k, 1), data(n * k, 2), data(n, 3));
        let want = reference(&x, &w, &b, rows, k, n);
        let lin = Linear::new(w, Some(b), k, n, Precision::F32);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .unwrap();
        for threads in [1, 2, 3, 8] {
            let mut y = vec![0f32; rows * n];
            pool.install(|| lin.forward(&x, rows, &mut y, threads, Activation::Identity));
            let worst = y
                .iter()
                .zip(&want)
                .map(|(&a, &b)| (a as f64 - b).abs())
                .fold(0.0, f64::max);
            assert!(worst < 1e-4, "{threads} threads: {worst}");
        }
    }

    /// Shapes the AMX tiles take (k a multiple of 32, n of 32), with rows that fill no
    /// whole row block, one, and several: the same sums as the `vdpbf16ps` kernel (both
    /// multiply the same bf16 values; only the order of the f32 additions differs).
    #[test]
    fn amx_matches_the_avx512_bf16_kernel() {
        use crate::cpu::bf16::Bf16Weight;
        let (k, n) = (96, 160);
        let w = data(n * k, 7);
        let weight = Bf16Weight::new(&w, k, n);
        if !weight.uses_amx() {
            eprintln!("no AMX-BF16 on this CPU (or the OS refused it): nothing to compare");
            return;
        }
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        for rows in [1, 16, 17, 32, 45, 70] {
            let x = data(rows * k, rows);
            let prepared = weight.prepare(&x, rows, k);
            let mut amx = vec![f32::NAN; rows * n];
            let mut avx = vec![f32::NAN; rows * n];
            let (amx_out, avx_out) = (SharedMut(amx.as_mut_ptr()), SharedMut(avx.as_mut_ptr()));
            pool.install(|| {
                for_each_range(n, 2, COLUMN_ALIGN, |cols| unsafe {
                    weight.amx_matmul_cols(
                        &prepared,
                        rows,
                        amx_out.get(),
                        n,
                        cols.clone(),
                        &mut |_| {},
                    );
                    weight.matmul_cols(&prepared, rows, avx_out.get(), n, cols);
                })
            });
            for (i, (&a, &b)) in amx.iter().zip(&avx).enumerate() {
                assert!(
                    (a - b).abs() <= 1e-5 * (1.0 + b.abs()),
                    "rows {rows}, value {i}: AMX {a}, vdpbf16ps {b}"
                );
            }
        }
    }

    #[test]
    fn reduced_precisions_stay_close_to_the_reference() {
        let (rows, k, n) = (7, 100, 96);
        let (x, w, b) = (data(rows * k, 4), data(n * k, 5), data(n, 6));
        let want = reference(&x, &w, &b, rows, k, n);
        let top = want.iter().fold(0f64, |m, v| m.max(v.abs()));
        for (precision, tol) in [(Precision::Bf16, 1e-2), (Precision::Int8, 2e-2)] {
            let lin = Linear::new(w.clone(), Some(b.clone()), k, n, precision);
            if !precision.supported() {
                eprintln!("{precision}: not supported by this CPU, the layer runs in f32");
                assert_eq!(lin.precision(), Precision::F32);
                continue;
            }
            assert_eq!(lin.precision(), precision);
            let mut y = vec![0f32; rows * n];
            lin.forward(&x, rows, &mut y, 2, Activation::Identity);
            let worst = y
                .iter()
                .zip(&want)
                .map(|(&a, &b)| (a as f64 - b).abs())
                .fold(0.0, f64::max);
            assert!(worst < tol * top, "{precision}: {worst} of {top}");
            assert!(worst > 0.0, "{precision} is not exact");
        }
    }
}
