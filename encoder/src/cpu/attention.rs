//! Multi-head self-attention over the fused query/key/value rows, one task per (text, head).

use gemm::Parallelism;
use rayon::prelude::*;

use super::matmul::{matmul, Rhs};
use super::parallel::SharedMut;

/// Shapes of one attention call.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Shape {
    /// Texts in the batch.
    pub(crate) batch: usize,
    /// Positions per text (padded).
    pub(crate) len: usize,
    /// Attention heads.
    pub(crate) heads: usize,
    /// Width of one head.
    pub(crate) head_dim: usize,
}

/// `context[b * len, heads * head_dim]` from `qkv[b * len, 3 * heads * head_dim]` (queries,
/// keys, values side by side, as the fused projection writes them) and the additive key mask
/// `mask[b * len]` (0 attended, a large negative number masked). Runs `batch * heads` tasks,
/// on rayon's threads when `threads > 1`.
pub(crate) fn attention(qkv: &[f32], mask: &[f32], s: Shape, context: &mut [f32], threads: usize) {
    let h = s.heads * s.head_dim;
    debug_assert_eq!(qkv.len(), s.batch * s.len * 3 * h);
    debug_assert_eq!(context.len(), s.batch * s.len * h);
    debug_assert_eq!(mask.len(), s.batch * s.len);
    let out = SharedMut(context.as_mut_ptr());
    let scratch = || vec![0f32; 2 * s.len * s.len];
    let task = |buf: &mut Vec<f32>, task: usize| {
        let (b, head) = (task / s.heads, task % s.heads);
        // SAFETY: this task writes only the `head` columns of text `b`'s rows.
        unsafe {
            one_head(
                qkv,
                &mask[b * s.len..(b + 1) * s.len],
                s,
                b,
                head,
                buf,
                out.get(),
            )
        }
    };
    let tasks = s.batch * s.heads;
    if threads > 1 && tasks > 1 {
        (0..tasks).into_par_iter().for_each_init(scratch, task);
    } else {
        let mut buf = scratch();
        (0..tasks).for_each(|t| task(&mut buf, t));
    }
}

/// One head of one text.
///
/// # Safety
/// `context` points to the `batch * len x heads * head_dim` output; only this head's columns
/// of text `b`'s rows are written.
unsafe fn one_head(
    qkv: &[f32],
    mask: &[f32],
    s: Shape,
    b: usize,
    head: usize,
    buf: &mut [f32],
    context: *mut f32,
) {
    let (t, d) = (s.len, s.head_dim);
    let h = s.heads * d;
    let row_stride = 3 * h;
    let base = b * t * row_stride + head * d;
    let q = qkv.as_ptr().add(base);
    let k = qkv.as_ptr().add(base + h);
    let v = qkv.as_ptr().add(base + 2 * h);
    let (scores, probs) = buf.split_at_mut(t * t);
    let scale = 1.0 / (d as f32).sqrt();
    // scores[t, t] = scale * q[t, d] · k[t, d]ᵀ
    matmul(
        (t, t, d),
        (scores.as_mut_ptr(), t),
        (q, row_stride),
        Rhs::Transposed(k, row_stride),
        scale,
        Parallelism::None,
    );
    for (src, dst) in scores.chunks_exact(t).zip(probs.chunks_exact_mut(t)) {
        crate::masked_softmax::softmax_row(src, mask, dst);
    }
    // context[b rows, head cols] = probs[t, t] · v[t, d]
    matmul(
        (t, d, t),
        (context.add(b * t * h + head * d), h),
        (probs.as_ptr(), t),
        Rhs::Rows(v, row_stride),
        1.0,
        Parallelism::None,
    );
}
