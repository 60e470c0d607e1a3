//! int8 linear layers with AVX-512 VNNI: weights quantised once per output column
//! (symmetric, scale `max|w| / 127`), activations per row at each call (symmetric, then
//! shifted by 128 into `u8` for `vpdpbusd`, the shift removed with the weights' column sums).
//!
//! Weights are packed in tiles of 16 output columns: for every 4 input values, 64 bytes
//! holding 4 consecutive weights of each of the 16 columns, so one 512-bit load feeds one
//! `vpdpbusd` that adds 4 products into each of 16 column sums.

/// Output columns per tile.
pub(crate) const TILE: usize = 16;

/// Whether this CPU has the instructions.
pub(crate) fn supported() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        is_x86_feature_detected!("avx512f")
            && is_x86_feature_detected!("avx512bw")
            && is_x86_feature_detected!("avx512vnni")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// A weight `[n, k]` quantised and packed.
pub(crate) struct Int8Weight {
    /// `n / 16` tiles of `k4 * 16` bytes.
    packed: Vec<i8>,
    /// Per column: `max|w| / 127`.
    scales: Vec<f32>,
    /// Per column: `128 * sum of its quantised weights`, the shift to remove.
    shift: Vec<i32>,
    /// `k` rounded up to a multiple of 4.
    k4: usize,
}

/// Activations quantised per row: `u8` values (`q + 128`), `rows x k4`, and their scales.
pub(crate) struct Int8Rows {
    values: Vec<u8>,
    scales: Vec<f32>,
}

impl Int8Weight {
    /// Quantises `w` (`[n, k]` row-major); `n` must be a multiple of 16.
    pub(crate) fn new(w: &[f32], k: usize, n: usize) -> Self {
        debug_assert!(n.is_multiple_of(TILE));
        let k4 = k.next_multiple_of(4);
        let mut packed = vec![0i8; n * k4];
        let mut scales = vec![0f32; n];
        let mut shift = vec![0i32; n];
        for c in 0..n {
            let row = &w[c * k..(c + 1) * k];
            let max = row.iter().fold(0f32, |m, &v| m.max(v.abs()));
            let scale = if max > 0.0 { max / 127.0 } else { 1.0 };
            scales[c] = scale;
            let (tile, lane) = (c / TILE, c % TILE);
            let mut sum = 0i32;
            for (i, &v) in row.iter().enumerate() {
                let q = (v / scale).round().clamp(-127.0, 127.0) as i8;
                sum += i32::from(q);
                packed[tile * k4 * TILE + (i / 4) * 4 * TILE + lane * 4 + i % 4] = q;
            }
            shift[c] = 128 * sum;
        }
        Self {
            packed,
            scales,
            shift,
            k4,
        }
    }

    /// Quantises `x` (`rows x k`) per row.
    pub(crate) fn prepare(&self, x: &[f32], rows: usize, k: usize) -> Int8Rows {
        let mut values = vec![128u8; rows * self.k4];
        let mut scales = vec![0f32; rows];
        for r in 0..rows {
            let row = &x[r * k..(r + 1) * k];
            let max = row.iter().fold(0f32, |m, &v| m.max(v.abs()));
            let scale = if max > 0.0 { max / 127.0 } else { 1.0 };
            scales[r] = scale;
            let inv = 1.0 / scale;
            for (q, &v) in values[r * self.k4..r * self.k4 + k].iter_mut().zip(row) {
                *q = ((v * inv).round().clamp(-127.0, 127.0) as i32 + 128) as u8;
            }
        }
        Int8Rows { values, scales }
    }
}

avx512_matmul! {
    /// Columns `cols` (whole tiles) of `dst` (`rows x n`).
    ///
    /// # Safety
    /// The CPU must have AVX-512 F/BW/VNNI ([`supported`]); `dst` must hold `rows * n`
    /// values whose columns `cols` no one else touches.
    weight: Int8Weight,
    rows: Int8Rows,
    features: "avx512f,avx512bw,avx512vnni",
    unsupported: "int8 weights are only built where supported() is true",
    block: <M, T> |w, x, r, t, dst, n| {
        let k4 = w.k4;
        let mut acc = [[_mm512_setzero_si512(); T]; M];
        let a = x.values.as_ptr().add(r * k4);
        let b = w.packed.as_ptr().add(t * k4 * TILE);
        for g in 0..k4 / 4 {
            let mut wv = [_mm512_setzero_si512(); T];
            for (j, v) in wv.iter_mut().enumerate() {
                *v = _mm512_loadu_si512(b.add(j * k4 * TILE + g * 4 * TILE) as *const _);
            }
            for (m, row) in acc.iter_mut().enumerate() {
                let av = _mm512_set1_epi32((a.add(m * k4 + g * 4) as *const i32).read_unaligned());
                for (acc, &wv) in row.iter_mut().zip(&wv) {
                    *acc = _mm512_dpbusd_epi32(*acc, av, wv);
                }
            }
        }
        for (m, row) in acc.iter().enumerate() {
            let sa = _mm512_set1_ps(x.scales[r + m]);
            for (j, &acc) in row.iter().enumerate() {
                let c = (t + j) * TILE;
                let shift = _mm512_loadu_si512(w.shift.as_ptr().add(c) as *const _);
                let sw = _mm512_loadu_ps(w.scales.as_ptr().add(c));
                let v = _mm512_cvtepi32_ps(_mm512_sub_epi32(acc, shift));
                let y = _mm512_mul_ps(_mm512_mul_ps(v, sw), sa);
                _mm512_storeu_ps(dst.add((r + m) * n + c), y);
            }
        }
    }
}
