//! The unit-norm check of input embeddings.
//!
//! ColBERT embeddings are L2-normalised: every score (centroid assignment, residuals,
//! MaxSim) assumes it. A row scaled by 10, or all zeros, indexes without any other
//! error and then makes every score meaningless, so the builder refuses it.
//!
//! The tolerance, [`NORM_TOLERANCE`] = 0.01 on `|norm - 1|`, admits every rounding a
//! real pipeline makes (f32 normalisation: about 1e-7 * sqrt(dim); a float16 round
//! trip: at most 2^-11 relative a coordinate; bfloat16: at most 2^-8, about 0.004)
//! and refuses what is a mistake rather than rounding: an unnormalised model output
//! (norms of 3 to 30 for BERT-sized projections), a scaled row, an all-zero row.

use rayon::prelude::*;

/// Largest accepted `|norm - 1|` of an input embedding.
pub(crate) const NORM_TOLERANCE: f64 = 1e-2;

/// Rows checked by one task of the parallel scan.
const ROWS_PER_TASK: usize = 4096;

/// The first row whose norm is off.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct OffNorm {
    /// The row, counted from the start of the slice checked.
    pub row: usize,
    /// Its L2 norm.
    pub norm: f32,
}

/// Checks that every row of `rows` (`n x dim`, row-major) has L2 norm 1 within
/// [`NORM_TOLERANCE`]; returns the first row that does not.
///
/// The norm is summed in f64, so it overflows only for non-finite values; rows with
/// a NaN or an infinity are left to the finiteness check, which names the column.
/// Large inputs are scanned in parallel; the row reported is still the first.
pub(crate) fn check_unit_norm(rows: &[f32], dim: usize) -> Result<(), OffNorm> {
    if dim == 0 {
        return Ok(());
    }
    let first_in = |block: &[f32], first_row: usize| {
        block.chunks_exact(dim).enumerate().find_map(|(i, row)| {
            let norm = row
                .iter()
                .map(|&x| f64::from(x) * f64::from(x))
                .sum::<f64>()
                .sqrt();
            (norm.is_finite() && (norm - 1.0).abs() > NORM_TOLERANCE).then_some(OffNorm {
                row: first_row + i,
                norm: norm as f32,
            })
        })
    };
    let off = if rows.len() <= ROWS_PER_TASK * dim {
        first_in(rows, 0)
    } else {
        rows.par_chunks(ROWS_PER_TASK * dim)
            .enumerate()
            .find_map_first(|(b, block)| first_in(block, b * ROWS_PER_TASK))
    };
    off.map_or(Ok(()), Err)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit_rows(n: usize, dim: usize) -> Vec<f32> {
        let x = 1.0 / (dim as f32).sqrt();
        vec![x; n * dim]
    }

    #[test]
    fn unit_rows_pass_and_rounding_is_tolerated() {
        let mut rows = unit_rows(10, 128);
        assert_eq!(check_unit_norm(&rows, 128), Ok(()));
        // A bfloat16-sized error on every coordinate of one row: norm off by 0.004.
        rows[128..256]
            .iter_mut()
            .for_each(|x| *x *= 1.0 + 1.0 / 256.0);
        assert_eq!(check_unit_norm(&rows, 128), Ok(()));
        assert_eq!(check_unit_norm(&[], 128), Ok(()));
    }

    #[test]
    fn scaled_and_zero_rows_are_found() {
        let mut rows = unit_rows(10, 4);
        rows[3 * 4..4 * 4].iter_mut().for_each(|x| *x *= 10.0);
        let off = check_unit_norm(&rows, 4).unwrap_err();
        assert_eq!(off.row, 3);
        assert!((off.norm - 10.0).abs() < 1e-4, "{off:?}");
        let mut rows = unit_rows(10, 4);
        rows[7 * 4..8 * 4].fill(0.0);
        assert_eq!(
            check_unit_norm(&rows, 4),
            Err(OffNorm { row: 7, norm: 0.0 })
        );
    }

    #[test]
    fn non_finite_rows_are_left_to_the_finiteness_check() {
        let mut rows = unit_rows(3, 4);
        rows[5] = f32::NAN;
        rows[10] = f32::INFINITY;
        assert_eq!(check_unit_norm(&rows, 4), Ok(()));
    }

    #[test]
    fn the_parallel_scan_reports_the_first_bad_row() {
        let dim = 8;
        let n = ROWS_PER_TASK * 5 + 17;
        let mut rows = unit_rows(n, dim);
        for bad in [ROWS_PER_TASK * 4 + 3, ROWS_PER_TASK * 2 + 1] {
            rows[bad * dim] = 2.0;
        }
        assert_eq!(
            check_unit_norm(&rows, dim).unwrap_err().row,
            ROWS_PER_TASK * 2 + 1
        );
    }
}
