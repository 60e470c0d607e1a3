//! Attention probabilities: softmax over the last dimension of `scores + mask`, in one pass
//! over the scores on the CPU.
//!
//! candle adds the mask in one pass (a broadcast binary op) and softmaxes in another with a
//! scalar `expf` per score; here both happen per row with the vectorised exp of
//! [`crate::gelu`] (relative error about 2e-7, well inside the encoder's 1e-4 parity bound).
//! On other devices, or other dtypes, candle's ops run.

use candle_core::{CpuStorage, CustomOp2, Layout, Shape, Tensor};

/// `softmax(scores + mask)` over the last dimension; `scores` is `[b, h, q, k]` and `mask`
/// `[b, 1, 1, k]` (additive: 0 attended, a large negative number masked).
pub(crate) fn masked_softmax(scores: &Tensor, mask: &Tensor) -> candle_core::Result<Tensor> {
    let cpu_f32 = scores.device().is_cpu()
        && scores.dtype() == candle_core::DType::F32
        && mask.dtype() == candle_core::DType::F32;
    if cpu_f32 {
        scores
            .contiguous()?
            .apply_op2_no_bwd(&mask.contiguous()?, &MaskedSoftmax)
    } else {
        candle_nn::ops::softmax_last_dim(&scores.broadcast_add(mask)?)
    }
}

struct MaskedSoftmax;

impl CustomOp2 for MaskedSoftmax {
    fn name(&self) -> &'static str {
        "tartan-masked-softmax"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (CpuStorage::F32(scores), CpuStorage::F32(mask)) = (s1, s2) else {
            candle_core::bail!("tartan-masked-softmax takes f32");
        };
        let (Some((s_lo, s_hi)), Some((m_lo, m_hi))) =
            (l1.contiguous_offsets(), l2.contiguous_offsets())
        else {
            candle_core::bail!("tartan-masked-softmax takes contiguous tensors");
        };
        let (b, h, q, k) = l1.shape().dims4()?;
        if l2.shape().dims4()? != (b, 1, 1, k) {
            candle_core::bail!(
                "mask shape {:?} does not fit scores {:?}",
                l2.shape(),
                l1.shape()
            );
        }
        let scores = &scores[s_lo..s_hi];
        let mask = &mask[m_lo..m_hi];
        let mut out = vec![0f32; scores.len()];
        if k > 0 {
            for ((r, src), dst) in scores
                .chunks_exact(k)
                .enumerate()
                .zip(out.chunks_exact_mut(k))
            {
                let batch = r / (h * q);
                softmax_row(src, &mask[batch * k..(batch + 1) * k], dst);
            }
        }
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }
}

/// One row, with the widest vector unit the CPU has (compiled for AVX-512, AVX2 + FMA
/// and the baseline, chosen at run time).
#[multiversion::multiversion(targets("x86_64+avx512f", "x86_64+avx2+fma"))]
pub(crate) fn softmax_row(src: &[f32], mask: &[f32], dst: &mut [f32]) {
    row_kernel(src, mask, dst)
}

const LANES: usize = 16;

#[inline(always)]
fn row_kernel(src: &[f32], mask: &[f32], dst: &mut [f32]) {
    // Masked scores and their maximum (per lane, then across lanes, so the loop vectorises).
    let mut max = [f32::MIN; LANES];
    for ((d, &s), &m) in dst.iter_mut().zip(src).zip(mask) {
        *d = s + m;
    }
    let mut chunks = dst.chunks_exact(LANES);
    for c in &mut chunks {
        for (l, &v) in max.iter_mut().zip(c) {
            *l = l.max(v);
        }
    }
    let top = chunks
        .remainder()
        .iter()
        .chain(max.iter())
        .fold(f32::MIN, |a, &v| a.max(v));
    // Scores more than 86 below the top (masked keys among them) get exactly 0, as f32's
    // exp gives them after normalising, without passing through subnormal numbers.
    for d in dst.iter_mut() {
        let v = top - *d;
        let e = crate::gelu::exp_neg(v);
        *d = if v > crate::gelu::EXP_NEG_MAX { 0.0 } else { e };
    }
    let mut sums = [0f32; LANES];
    let mut chunks = dst.chunks_exact(LANES);
    for c in &mut chunks {
        for (l, &v) in sums.iter_mut().zip(c) {
            *l += v;
        }
    }
    let sum: f32 = sums.iter().sum::<f32>() + chunks.remainder().iter().sum::<f32>();
    let inv = 1.0 / sum;
    for d in dst.iter_mut() {
        *d *= inv;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn matches_candle_add_then_softmax() {
        let dev = Device::Cpu;
        let (b, h, q, k) = (2, 3, 5, 37);
        let scores = Tensor::randn(0f32, 3.0, (b, h, q, k), &dev).unwrap();
        let keep = Tensor::from_vec(
            (0..b * k)
                .map(|i| if i % 7 == 3 { 0f32 } else { 1.0 })
                .collect(),
            (b, 1, 1, k),
            &dev,
        )
        .unwrap();
        let mask = keep.affine(-(f32::MIN as f64), f32::MIN as f64).unwrap();
        let ours: Vec<f32> = masked_softmax(&scores, &mask)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        let want: Vec<f32> =
            candle_nn::ops::softmax_last_dim(&scores.broadcast_add(&mask).unwrap())
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1()
                .unwrap();
        let worst = ours
            .iter()
            .zip(&want)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(worst < 1e-6, "{worst}");
    }
}
