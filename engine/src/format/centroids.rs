//! The centroid table on disk: `centroids.npy` (i8 `[k, dim]`) and
//! `centroid_scales.npy` (f32 `[k]`), centroid `c` being `codes[c] * scales[c]`.
//!
//! Eight bits a coordinate with one scale a row (the row's largest magnitude / 127)
//! halves the table against half precision: at 7M embeddings and 32,768 centroids
//! that is 0.6 bytes an embedding instead of 1.2. The builder quantizes the trained
//! centroids before anything uses them, so residuals (codec training and
//! compression) are taken from exactly the vectors search rebuilds here: the
//! quantization moves centroids by at most half a step (~0.002 a coordinate for
//! unit vectors), which the residual codes absorb; it only perturbs the query-centroid
//! scores of candidate generation, by about 1e-3.

/// Quantizes `data` (`k x dim`, row-major) to one i8 row and one scale a centroid.
pub fn quantize(data: &[f32], dim: usize) -> (Vec<i8>, Vec<f32>) {
    let mut codes = Vec::with_capacity(data.len());
    let mut scales = Vec::with_capacity(data.len() / dim.max(1));
    for row in data.chunks_exact(dim) {
        let max = row.iter().fold(0f32, |m, x| m.max(x.abs()));
        let scale = if max > 0.0 { max / 127.0 } else { 1.0 };
        scales.push(scale);
        codes.extend(
            row.iter()
                .map(|&x| (x / scale).round().clamp(-127.0, 127.0) as i8),
        );
    }
    (codes, scales)
}

/// The centroids `codes * scales` (`k x dim`), as search and the builder use them.
pub fn dequantize(codes: &[i8], scales: &[f32], dim: usize) -> Vec<f32> {
    let mut out = vec![0.0; scales.len() * dim];
    crate::search::kernels::widen_rows(codes, scales, dim, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn round_trip_within_half_a_step(
            rows in proptest::collection::vec(
                proptest::collection::vec(-1.0f32..1.0, 8), 1..20)
        ) {
            let data: Vec<f32> = rows.concat();
            let (codes, scales) = quantize(&data, 8);
            let back = dequantize(&codes, &scales, 8);
            for (r, (orig, got)) in data.chunks(8).zip(back.chunks(8)).enumerate() {
                for (a, b) in orig.iter().zip(got) {
                    prop_assert!((a - b).abs() <= scales[r] * 0.5 + 1e-7);
                }
            }
        }
    }

    #[test]
    fn zero_rows_stay_zero() {
        let (codes, scales) = quantize(&[0.0; 4], 4);
        assert_eq!(dequantize(&codes, &scales, 4), vec![0.0; 4]);
    }
}
