//! Input validation shared by the public entry points. Hot loops run after these checks
//! and only `debug_assert!`.

use crate::error::{QuantizeError, Result};

/// Checks that `data` is a non-empty `n x dim` buffer of finite values; returns `n`.
pub(crate) fn rows(data: &[f32], dim: usize, what: &'static str) -> Result<usize> {
    if dim == 0 {
        return Err(QuantizeError::ZeroDim);
    }
    if data.is_empty() {
        return Err(QuantizeError::EmptyInput);
    }
    if data.len() % dim != 0 {
        return Err(QuantizeError::DimensionMismatch {
            what,
            expected: dim,
            found: data.len() % dim,
        });
    }
    finite(data, dim, what)?;
    Ok(data.len() / dim)
}

/// Checks that every value is finite.
pub(crate) fn finite(data: &[f32], dim: usize, what: &'static str) -> Result<()> {
    match data.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(i) => Err(QuantizeError::NonFinite {
            what,
            row: i / dim.max(1),
            column: i % dim.max(1),
            value: data[i],
        }),
    }
}

/// Checks that `nbits` is 1, 2 or 4 and that `dim` splits into whole bytes at that rate.
/// Returns the number of dimensions a byte holds (`8 / nbits`).
pub(crate) fn packable(dim: usize, nbits: u8) -> Result<usize> {
    if !matches!(nbits, 1 | 2 | 4) {
        return Err(QuantizeError::UnsupportedNbits { nbits });
    }
    if dim == 0 {
        return Err(QuantizeError::ZeroDim);
    }
    let per_byte = 8 / nbits as usize;
    if dim % per_byte != 0 {
        return Err(QuantizeError::UnpackableDim {
            dim,
            nbits,
            multiple: per_byte,
        });
    }
    Ok(per_byte)
}
