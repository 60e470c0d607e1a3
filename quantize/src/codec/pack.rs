//! Bit packing of per-dimension codes, in colbert-ai's order.
//!
//! colbert-ai (`ResidualCodec.binarize`) writes the `nbits` bits of each dimension's
//! code least significant bit first, dimension after dimension, and packs that bit
//! stream into bytes most significant bit first (`np.packbits`). So a byte holds
//! `8 / nbits` consecutive dimensions, the first dimension in the high bits, each code
//! bit-reversed within its `nbits`-wide slot:
//!
//! ```text
//! nbits = 2, codes of dims 0..4 = [1, 2, 3, 0]
//! bit:   7 6 | 5 4 | 3 2 | 1 0
//!        1 0 | 0 1 | 1 1 | 0 0     = 0x9C
//!        dim0  dim1  dim2  dim3    (each slot: code bit 0, then code bit 1)
//! ```

use crate::check;
use crate::error::{QuantizeError, Result};

/// The bits of `code` placed in slot `slot` (0 = high bits) of a byte.
#[inline]
pub(crate) fn slot_bits(code: u8, slot: usize, nbits: usize) -> u8 {
    let mut byte = 0u8;
    for bit in 0..nbits {
        if (code >> bit) & 1 == 1 {
            byte |= 0x80 >> (slot * nbits + bit);
        }
    }
    byte
}

/// The code held in slot `slot` (0 = high bits) of `byte`.
#[inline]
pub(crate) fn slot_code(byte: u8, slot: usize, nbits: usize) -> u8 {
    let mut code = 0u8;
    for bit in 0..nbits {
        if byte & (0x80 >> (slot * nbits + bit)) != 0 {
            code |= 1 << bit;
        }
    }
    code
}

/// Packs per-dimension codes (each below `2^nbits`) into bytes, colbert-ai's order.
///
/// Errors: [`QuantizeError::UnsupportedNbits`]; [`QuantizeError::UnpackableDim`] when
/// the number of codes does not fill whole bytes; [`QuantizeError::InvalidParameters`]
/// when a code does not fit in `nbits`.
pub fn pack_codes(codes: &[u8], nbits: u8) -> Result<Vec<u8>> {
    let per_byte = check::packable(8, nbits)?;
    if codes.len() % per_byte != 0 {
        return Err(QuantizeError::UnpackableDim {
            dim: codes.len(),
            nbits,
            multiple: per_byte,
        });
    }
    if let Some(&bad) = codes.iter().find(|&&c| c >> nbits != 0) {
        return Err(QuantizeError::InvalidParameters {
            reason: format!("code {bad} does not fit in {nbits} bits"),
        });
    }
    let nbits = nbits as usize;
    Ok(codes
        .chunks_exact(per_byte)
        .map(|chunk| {
            chunk
                .iter()
                .enumerate()
                .fold(0u8, |byte, (slot, &c)| byte | slot_bits(c, slot, nbits))
        })
        .collect())
}

/// Unpacks bytes made by [`pack_codes`] into one code per dimension.
///
/// Errors: [`QuantizeError::UnsupportedNbits`].
pub fn unpack_codes(bytes: &[u8], nbits: u8) -> Result<Vec<u8>> {
    let per_byte = check::packable(8, nbits)?;
    let nbits = nbits as usize;
    Ok(bytes
        .iter()
        .flat_map(|&b| (0..per_byte).map(move |slot| slot_code(b, slot, nbits)))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colbert_order_by_hand() {
        assert_eq!(pack_codes(&[1, 2, 3, 0], 2).unwrap(), vec![0x9C]);
        // 1 bit: plain MSB-first packbits.
        assert_eq!(
            pack_codes(&[1, 0, 0, 0, 0, 0, 0, 1], 1).unwrap(),
            vec![0x81]
        );
        // 4 bits: code 1 -> slot bits 1000, code 6 (0110) -> 0110 reversed = 0110.
        assert_eq!(pack_codes(&[1, 6], 4).unwrap(), vec![0x86]);
        assert_eq!(pack_codes(&[8, 0], 4).unwrap(), vec![0x10]);
    }

    #[test]
    fn rejects_bad_input() {
        assert!(matches!(
            pack_codes(&[0, 1, 2], 2),
            Err(QuantizeError::UnpackableDim { .. })
        ));
        assert!(matches!(
            pack_codes(&[0, 4, 0, 0], 2),
            Err(QuantizeError::InvalidParameters { .. })
        ));
        assert!(matches!(
            pack_codes(&[0; 8], 3),
            Err(QuantizeError::UnsupportedNbits { nbits: 3 })
        ));
        assert!(matches!(
            unpack_codes(&[0], 0),
            Err(QuantizeError::UnsupportedNbits { nbits: 0 })
        ));
        assert_eq!(pack_codes(&[], 2).unwrap(), Vec::<u8>::new());
    }
}
