//! The exact (erf) GELU of BERT's feed-forward layers, vectorised for the CPU.
//!
//! candle's `gelu_erf` calls a scalar `erff` per element, which took about a sixth of a MiniLM
//! forward pass on the CPU. Here erf is Abramowitz & Stegun 7.1.26 (absolute error below
//! 1.5e-7) with a branch-free exp, written so the compiler vectorises it, and compiled for
//! AVX-512 or AVX2 + FMA when the CPU has them. On other devices candle's `gelu_erf` runs.

use candle_core::{CpuStorage, CustomOp1, Layout, Shape, Tensor};

/// `0.5 x (1 + erf(x / sqrt 2))` of every element.
pub(crate) fn gelu_erf(xs: &Tensor) -> candle_core::Result<Tensor> {
    if xs.device().is_cpu() && xs.dtype() == candle_core::DType::F32 {
        xs.contiguous()?.apply_op1_no_bwd(&GeluErf)
    } else {
        xs.gelu_erf()
    }
}

struct GeluErf;

impl CustomOp1 for GeluErf {
    fn name(&self) -> &'static str {
        "tartan-gelu-erf"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let CpuStorage::F32(data) = storage else {
            candle_core::bail!("tartan-gelu-erf takes f32");
        };
        let Some((start, end)) = layout.contiguous_offsets() else {
            candle_core::bail!("tartan-gelu-erf takes a contiguous tensor");
        };
        let src = &data[start..end];
        let mut out = vec![0f32; src.len()];
        gelu_slice(src, &mut out);
        Ok((CpuStorage::F32(out), layout.shape().clone()))
    }
}

/// GELU of `src` into `dst` (equal lengths), with the widest vector unit the CPU has
/// (compiled for AVX-512, AVX2 + FMA and the baseline, chosen at run time).
#[multiversion::multiversion(targets("x86_64+avx512f", "x86_64+avx2+fma"))]
pub(crate) fn gelu_slice(src: &[f32], dst: &mut [f32]) {
    gelu_kernel(src, dst)
}

/// GELU of `xs` in place, with the widest vector unit the CPU has.
#[multiversion::multiversion(targets("x86_64+avx512f", "x86_64+avx2+fma"))]
pub(crate) fn gelu_in_place(xs: &mut [f32]) {
    gelu_in_place_kernel(xs)
}

#[inline(always)]
fn gelu_in_place_kernel(xs: &mut [f32]) {
    for x in xs {
        *x = gelu(*x);
    }
}

#[inline(always)]
fn gelu_kernel(src: &[f32], dst: &mut [f32]) {
    for (y, &x) in dst.iter_mut().zip(src) {
        *y = gelu(x);
    }
}

/// One element; branch-free so that loops over it vectorise.
#[inline(always)]
fn gelu(x: f32) -> f32 {
    0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2))
}

/// erf by Abramowitz & Stegun 7.1.26: `1 - poly(t) exp(-z^2)`, `t = 1 / (1 + p z)`, odd in z.
#[inline(always)]
fn erf(z: f32) -> f32 {
    const P: f32 = 0.327_591_1;
    const A: [f32; 5] = [
        0.254_829_6,
        -0.284_496_74,
        1.421_413_8,
        -1.453_152_1,
        1.061_405_4,
    ];
    // erf(6) is 1 in f32 (1 - 2e-17); clamping there keeps exp(-z^2) and the products far
    // from subnormal numbers, each of which costs a microcode assist on x86.
    let a = z.abs().min(6.0);
    let t = 1.0 / (1.0 + P * a);
    let poly = t * (A[0] + t * (A[1] + t * (A[2] + t * (A[3] + t * A[4]))));
    let e = 1.0 - poly * exp_neg(a * a);
    e.copysign(z)
}

/// The largest `v` [`exp_neg`] computes: `exp(-86)` (4.4e-38) is still a normal f32.
pub(crate) const EXP_NEG_MAX: f32 = 86.0;

/// `exp(-v)` for `v >= 0`, relative error about 2e-7; `exp(-86)` for `v > 86`, so that the
/// result is never subnormal (a microcode assist on x86 for every use).
#[inline(always)]
pub(crate) fn exp_neg(v: f32) -> f32 {
    // exp(-v) = 2^n * exp(r), n = round(-v / ln 2), |r| <= ln 2 / 2.
    let x = (-v).max(-EXP_NEG_MAX);
    // n rounded by adding 1.5 * 2^23 (the f32 addition rounds to an integer), which also
    // leaves n in the low bits of `shifted`: no float-to-int cast (Rust's saturating cast is
    // scalar code per element, most of a softmax's time).
    const ROUNDER: f32 = 12_582_912.0;
    let shifted = x * std::f32::consts::LOG2_E + ROUNDER;
    let n = shifted - ROUNDER;
    let r = x - n * 0.693_145_75 - n * 1.428_606_8e-6;
    // Taylor series to degree 6 on |r| <= 0.35.
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0))))));
    // 2^n: the exponent field n + 127 (in 1..=254 for n in -124..=0).
    let scale = f32::from_bits(shifted.to_bits().wrapping_add(127) << 23);
    p * scale
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// erf in f64 by its Maclaurin series (small |z|) or continued fraction (large |z|).
    fn erf_ref(z: f64) -> f64 {
        let a = z.abs();
        let v = if a < 3.0 {
            let (mut term, mut sum, mut n) = (a, a, 0.0);
            while term.abs() > 1e-17 {
                n += 1.0;
                term *= -a * a / n;
                sum += term / (2.0 * n + 1.0);
            }
            sum * 2.0 / std::f64::consts::PI.sqrt()
        } else {
            let mut f = 0.0;
            for k in (1..60).rev() {
                f = (k as f64 / 2.0) / (a + f);
            }
            1.0 - (-a * a).exp() / (std::f64::consts::PI.sqrt() * (a + f))
        };
        v.copysign(z)
    }

    fn gelu_ref(x: f64) -> f64 {
        0.5 * x * (1.0 + erf_ref(x / std::f64::consts::SQRT_2))
    }

    #[test]
    fn exp_neg_is_accurate() {
        for i in 0..=1720 {
            let v = i as f32 * 0.05;
            let want = (-(v as f64)).exp();
            let got = exp_neg(v) as f64;
            assert!(
                (got - want).abs() <= 3e-7 * want + 1e-38,
                "{v}: {got} vs {want}"
            );
        }
        assert_eq!(exp_neg(1000.0), exp_neg(EXP_NEG_MAX));
        assert!(exp_neg(1000.0).is_normal());
    }

    #[test]
    fn gelu_matches_the_exact_gelu_and_candle() {
        let xs: Vec<f32> = (-4000..=4000).map(|i| i as f32 * 0.0025).collect();
        let mut ys = vec![0f32; xs.len()];
        gelu_slice(&xs, &mut ys);
        for (&x, &y) in xs.iter().zip(&ys) {
            let want = gelu_ref(x as f64);
            assert!(
                (y as f64 - want).abs() < 2e-6 * (1.0 + x.abs() as f64),
                "{x}: {y} vs {want}"
            );
        }
        let t = Tensor::new(xs.as_slice(), &candle_core::Device::Cpu).unwrap();
        let ours: Vec<f32> = gelu_erf(&t).unwrap().to_vec1().unwrap();
        let candle: Vec<f32> = t.gelu_erf().unwrap().to_vec1().unwrap();
        let worst = ours
            .iter()
            .zip(&candle)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(worst < 1e-5, "{worst}");
    }

    proptest! {
        #[test]
        fn gelu_is_close_everywhere(x in -1e4f32..1e4f32) {
            let mut y = [0f32];
            gelu_slice(&[x], &mut y);
            let want = gelu_ref(x as f64);
            prop_assert!((y[0] as f64 - want).abs() <= 2e-6 * (1.0 + (x as f64).abs()));
        }
    }
}
