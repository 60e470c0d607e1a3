//! The one `gemm` call shape of the CPU forward pass: `dst = scale · a · b` in `f32`, `dst` and
//! `a` row-major, `b` row-major or transposed. An `#[inline(always)]` wrapper, so each caller
//! compiles to the same `gemm` call it would write out by hand.

use gemm::{gemm, Parallelism};

/// How the right-hand `[k, n]` operand is laid out behind its pointer.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Rhs {
    /// Row-major `[k, n]`, rows this many elements apart: element `(i, j)` at `i * stride + j`.
    Rows(*const f32, usize),
    /// Stored transposed, `[n, k]` row-major, rows this many elements apart: element `(i, j)`
    /// at `j * stride + i` (how `nn.Linear` stores its weight, or keys for `q · kᵀ`).
    Transposed(*const f32, usize),
}

/// `dst[m, n] = scale · a[m, k] · b[k, n]`, overwriting `dst`; `dst` rows are `dst_row`
/// elements apart and `a` rows `a_row` apart (both with unit column stride).
///
/// # Safety
/// Every pointer must be valid for the elements its shape and strides reach, and no other
/// thread may touch the part of `dst` written.
#[inline(always)]
pub(crate) unsafe fn matmul(
    (m, n, k): (usize, usize, usize),
    (dst, dst_row): (*mut f32, usize),
    (a, a_row): (*const f32, usize),
    b: Rhs,
    scale: f32,
    parallelism: Parallelism,
) {
    let (b, b_col, b_row) = match b {
        Rhs::Rows(p, stride) => (p, 1, stride as isize),
        Rhs::Transposed(p, stride) => (p, stride as isize, 1),
    };
    gemm(
        m,
        n,
        k,
        dst,
        1,
        dst_row as isize,
        false,
        a,
        1,
        a_row as isize,
        b,
        b_col,
        b_row,
        0.0,
        scale,
        false,
        false,
        false,
        parallelism,
    )
}
