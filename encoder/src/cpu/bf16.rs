//! bf16 linear layers with AVX-512 BF16: weights and activations rounded to bf16 (nearest
//! even), products accumulated in f32 by `vdpbf16ps`.
//!
//! Weights are packed in tiles of 16 output columns: for every 2 input values, 64 bytes
//! holding 2 consecutive weights of each of the 16 columns, so one 512-bit load feeds one
//! `vdpbf16ps` that adds 2 products into each of 16 column sums.

use half::bf16;

use super::amx;

/// Output columns per tile.
pub(crate) const TILE: usize = 16;

/// Whether this CPU has the instructions.
pub(crate) fn supported() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512bf16")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// A weight `[n, k]` rounded to bf16 and packed.
pub(crate) struct Bf16Weight {
    /// `n / 16` tiles of `k2 * 16` values.
    packed: Vec<bf16>,
    /// `k` rounded up to a multiple of 2.
    k2: usize,
    /// Whether the layer runs on AMX tiles ([`amx::fits`]) rather than `vdpbf16ps`.
    amx: bool,
}

/// Activations rounded to bf16, `rows x k2` (for AMX, zero rows up to a multiple of
/// [`amx::ROW_BLOCK`] follow). Its buffer goes back to its thread when dropped.
pub(crate) struct Bf16Rows(Vec<bf16>);

thread_local! {
    /// The last dropped [`Bf16Rows`] buffer of this thread, for the next `prepare`: a
    /// document batch's activations are megabytes a layer, and a fresh allocation of that
    /// size is fresh pages, each one a page fault (about a tenth of a batch's time).
    static SPARE_ROWS: std::cell::Cell<Vec<bf16>> = const { std::cell::Cell::new(Vec::new()) };
}

impl Drop for Bf16Rows {
    fn drop(&mut self) {
        let values = std::mem::take(&mut self.0);
        SPARE_ROWS.with(|spare| spare.set(values));
    }
}

impl Bf16Weight {
    /// Packs `w` (`[n, k]` row-major); `n` must be a multiple of 16.
    pub(crate) fn new(w: &[f32], k: usize, n: usize) -> Self {
        debug_assert!(n.is_multiple_of(TILE));
        let k2 = k.next_multiple_of(2);
        let mut packed = vec![bf16::ZERO; n * k2];
        // A tile (16 columns) at a time: its 16 rows of `w` rounded (vectorised), then their
        // pairs interleaved in order.
        let mut rounded = vec![bf16::ZERO; TILE * k2];
        for (tile, out) in packed.chunks_exact_mut(k2 * TILE).enumerate() {
            for (lane, dst) in rounded.chunks_exact_mut(k2).enumerate() {
                let c = tile * TILE + lane;
                round_row(&w[c * k..(c + 1) * k], &mut dst[..k]);
            }
            for (g, pairs) in out.chunks_exact_mut(2 * TILE).enumerate() {
                for (lane, pair) in pairs.chunks_exact_mut(2).enumerate() {
                    pair.copy_from_slice(&rounded[lane * k2 + 2 * g..lane * k2 + 2 * g + 2]);
                }
            }
        }
        Self {
            packed,
            k2,
            amx: amx::fits(k, n),
        }
    }

    /// Whether this layer runs on AMX tiles.
    pub(crate) fn uses_amx(&self) -> bool {
        self.amx
    }

    /// Rounds `x` (`rows x k`) to bf16.
    pub(crate) fn prepare(&self, x: &[f32], rows: usize, k: usize) -> Bf16Rows {
        let padded = if self.amx {
            rows.next_multiple_of(amx::ROW_BLOCK)
        } else {
            rows
        };
        let k2 = self.k2;
        let mut values = SPARE_ROWS.with(|spare| spare.take());
        // Every value is written below; resizing only sets the length.
        values.resize(padded * k2, bf16::ZERO);
        for (r, row) in values.chunks_exact_mut(k2).enumerate() {
            if r < rows {
                round_row(&x[r * k..(r + 1) * k], &mut row[..k]);
                row[k..].fill(bf16::ZERO);
            } else {
                row.fill(bf16::ZERO);
            }
        }
        Bf16Rows(values)
    }
}

/// `src` rounded to bf16 (nearest even) into `dst`, 32 values an instruction
/// (`vcvtne2ps2bf16`); bf16 weights exist only where the CPU has it.
fn round_row(src: &[f32], dst: &mut [bf16]) {
    #[cfg(target_arch = "x86_64")]
    if supported() {
        // SAFETY: the CPU has AVX-512 F and BF16.
        unsafe { round_row_avx512(src, dst) };
        return;
    }
    for (q, &v) in dst.iter_mut().zip(src) {
        *q = bf16::from_f32(v);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bf16")]
unsafe fn round_row_avx512(src: &[f32], dst: &mut [half::bf16]) {
    use std::arch::x86_64::*;
    let n = src.len().min(dst.len());
    let whole = n / 32 * 32;
    for i in (0..whole).step_by(32) {
        let lo = _mm512_loadu_ps(src.as_ptr().add(i));
        let hi = _mm512_loadu_ps(src.as_ptr().add(i + 16));
        // The second operand fills the low 16 values.
        let packed = _mm512_cvtne2ps_pbh(hi, lo);
        _mm512_storeu_si512(
            dst.as_mut_ptr().add(i) as *mut __m512i,
            std::mem::transmute::<__m512bh, __m512i>(packed),
        );
    }
    for i in whole..n {
        dst[i] = half::bf16::from_f32(src[i]);
    }
}

impl Bf16Weight {
    /// Columns `cols` (whole [`amx::COLUMN_BLOCK`]s) of `dst` (`rows x n`) on AMX tiles,
    /// `finish_rows` called on each chunk of rows once written.
    ///
    /// # Safety
    /// [`Bf16Weight::uses_amx`] must be true and `x` come from this weight's `prepare`;
    /// `dst` must hold `rows * n` values whose columns `cols` no one else touches.
    pub(crate) unsafe fn amx_matmul_cols(
        &self,
        x: &Bf16Rows,
        rows: usize,
        dst: *mut f32,
        n: usize,
        cols: std::ops::Range<usize>,
        finish_rows: &mut dyn FnMut(std::ops::Range<usize>),
    ) {
        amx::matmul_cols(&self.packed, &x.0, self.k2, rows, dst, n, cols, finish_rows);
    }
}

avx512_matmul! {
    /// Columns `cols` (whole tiles) of `dst` (`rows x n`).
    ///
    /// # Safety
    /// The CPU must have AVX-512 F/BF16 ([`supported`]); `dst` must hold `rows * n`
    /// values whose columns `cols` no one else touches.
    weight: Bf16Weight,
    rows: Bf16Rows,
    features: "avx512f,avx512bf16",
    unsupported: "bf16 weights are only built where supported() is true",
    block: <M, T> |w, x, r, t, dst, n| {
        let k2 = w.k2;
        let mut acc = [[_mm512_setzero_ps(); T]; M];
        let a = x.0.as_ptr().add(r * k2);
        let b = w.packed.as_ptr().add(t * k2 * TILE);
        for g in 0..k2 / 2 {
            let mut wv = [_mm512_setzero_si512(); T];
            for (j, v) in wv.iter_mut().enumerate() {
                *v = _mm512_loadu_si512(b.add(j * k2 * TILE + g * 2 * TILE) as *const _);
            }
            for (m, row) in acc.iter_mut().enumerate() {
                let av = _mm512_set1_epi32((a.add(m * k2 + g * 2) as *const i32).read_unaligned());
                for (acc, &wv) in row.iter_mut().zip(&wv) {
                    *acc = _mm512_dpbf16_ps(
                        *acc,
                        std::mem::transmute::<__m512i, __m512bh>(av),
                        std::mem::transmute::<__m512i, __m512bh>(wv),
                    );
                }
            }
        }
        for (m, row) in acc.iter().enumerate() {
            for (j, &acc) in row.iter().enumerate() {
                _mm512_storeu_ps(dst.add((r + m) * n + (t + j) * TILE), acc);
            }
        }
    }
}
