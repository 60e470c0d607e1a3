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
    let small = if s.len <= SMALL_HEAD {
        s.len * s.head_dim
    } else {
        0
    };
    let scratch = || vec![0f32; 2 * s.len * s.len + small];
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

/// Heads of at most this many positions (a query's 32) skip `gemm`: their products
/// (32 x 32 x 32 for MiniLM) cost less than `gemm`'s set-up, which was a fifth of a query's
/// time once the linear layers ran on AMX.
const SMALL_HEAD: usize = 64;

/// One short head as plain vector loops: `scores = scale · q · kᵀ` one dot product a pair,
/// the masked softmax into `probs`, then `ctx = probs · v` (`[t, d]`) as `axpy` over the
/// values.
#[allow(clippy::too_many_arguments)]
#[multiversion::multiversion(targets("x86_64+avx512f", "x86_64+avx2+fma"))]
fn small_head(
    q: &[&[f32]],
    k: &[&[f32]],
    v: &[&[f32]],
    mask: &[f32],
    scale: f32,
    scores: &mut [f32],
    probs: &mut [f32],
    ctx: &mut [f32],
) {
    let t = q.len();
    let d = ctx.len() / t.max(1);
    for (query, row) in q.iter().zip(scores.chunks_exact_mut(t)) {
        for (r, key) in row.iter_mut().zip(k) {
            *r = scale * dot(query, key);
        }
    }
    for (src, dst) in scores.chunks_exact(t).zip(probs.chunks_exact_mut(t)) {
        crate::masked_softmax::softmax_row(src, mask, dst);
    }
    for (p_row, out) in probs.chunks_exact(t).zip(ctx.chunks_exact_mut(d)) {
        out.fill(0.0);
        for (&p, value) in p_row.iter().zip(v) {
            // Masked keys (and keys far below the best) have 0; subnormal weights change
            // nothing and would cost a microcode assist a product.
            if p >= f32::MIN_POSITIVE {
                for (o, &x) in out.iter_mut().zip(value.iter()) {
                    *o = p.mul_add(x, *o);
                }
            }
        }
    }
}

/// `a · b` with 16 partial sums (one AVX-512 register), so that it vectorises.
#[inline(always)]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 16];
    let (ac, bc) = (a.chunks_exact(16), b.chunks_exact(16));
    let tail: f32 = ac
        .remainder()
        .iter()
        .zip(bc.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (ca, cb) in ac.zip(bc) {
        for l in 0..16 {
            acc[l] = ca[l].mul_add(cb[l], acc[l]);
        }
    }
    acc.iter().sum::<f32>() + tail
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
    let (scores, rest) = buf.split_at_mut(t * t);
    let (probs, rest) = rest.split_at_mut(t * t);
    let scale = 1.0 / (d as f32).sqrt();
    if t <= SMALL_HEAD {
        let ctx = rest;
        let row = |p: *const f32, i: usize| std::slice::from_raw_parts(p.add(i * row_stride), d);
        let rows = |p: *const f32| -> Vec<&[f32]> { (0..t).map(|i| row(p, i)).collect() };
        let (qs, ks, vs) = (rows(q), rows(k), rows(v));
        small_head(&qs, &ks, &vs, mask, scale, scores, probs, &mut ctx[..t * d]);
        for (i, ctx_row) in ctx.chunks_exact(d).take(t).enumerate() {
            std::ptr::copy_nonoverlapping(
                ctx_row.as_ptr(),
                context.add((b * t + i) * h + head * d),
                d,
            );
        }
        return;
    }
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
