//! Elias–Fano coding of non-decreasing integer sequences: the records of `postings.bin`.
//!
//! A sequence of `n` values below `universe` takes `n * (L + 2)` bits and a little,
//! `L = floor(log2(universe / n))`: each value's `L` low bits are stored as they are,
//! its high part `v >> L` in unary, as bit `(v >> L) + i` of a bit vector. At the
//! posting lists' typical density (a few hundred documents a centroid out of 100,000)
//! that is about 11 bits an entry, against 16 for a roaring array container.
//!
//! ```text
//! record := n (LEB128) | lows: n * L bits | highs: n + (universe - 1) >> L + 1 bits (0 if n = 0)
//! ```
//!
//! Bit fields are packed least significant bit first; each part is padded to whole
//! bytes. The record length is a function of `n` and `universe`, so a truncated or
//! overlong record is detected before any value is read.
//!
//! Compact succinct-structure crates (sucds, vers-vecs) serialise each sequence with
//! tens of bytes of headers and rank/select indexes that a sequential decode does not
//! need; at a few hundred entries a list that is a tenth of the file, hence this codec.

/// The number of low bits a value for `n` values below `universe`.
pub fn low_bits(n: usize, universe: u32) -> u32 {
    if n == 0 {
        return 0;
    }
    let ratio = universe as usize / n;
    if ratio <= 1 {
        0
    } else {
        ratio.ilog2().min(31)
    }
}

/// Bits of the high part for `n` values below `universe` with `low` low bits.
fn high_len(n: usize, universe: u32, low: u32) -> usize {
    if n == 0 {
        return 0;
    }
    n + (universe.saturating_sub(1) >> low) as usize + 1
}

/// The encoded size in bytes of `n` values below `universe`.
pub fn encoded_len(n: usize, universe: u32) -> usize {
    let low = low_bits(n, universe);
    leb128_len(n as u64) + (n * low as usize).div_ceil(8) + high_len(n, universe, low).div_ceil(8)
}

/// Appends the record of `values` (non-decreasing, each below `universe`) to `out`.
///
/// Errors: a value not below `universe`, or a value smaller than the one before it.
pub fn encode(values: &[u32], universe: u32, out: &mut Vec<u8>) -> Result<(), String> {
    let n = values.len();
    let low = low_bits(n, universe);
    let mut prev = 0u32;
    for (i, &v) in values.iter().enumerate() {
        if v >= universe {
            return Err(format!(
                "value {v} at {i} is not below the universe {universe}"
            ));
        }
        if v < prev {
            return Err(format!(
                "value {v} at {i} is smaller than the one before it"
            ));
        }
        prev = v;
    }
    write_leb128(n as u64, out);

    let mut bits = BitWriter::new(out);
    let mask = (1u64 << low) - 1;
    for &v in values {
        bits.push(u64::from(v) & mask, low);
    }
    bits.finish();

    let start = out.len();
    out.resize(start + high_len(n, universe, low).div_ceil(8), 0);
    let highs = &mut out[start..];
    for (i, &v) in values.iter().enumerate() {
        let pos = (v >> low) as usize + i;
        highs[pos / 8] |= 1 << (pos % 8);
    }
    Ok(())
}

/// Decodes the record `bytes` of values below `universe`, appending them to `out`.
///
/// Errors (as text for the caller to wrap with the file's name): a record whose length
/// does not match its count, a high part with too few or too many entries, a value not
/// below `universe` or out of order.
pub fn decode(bytes: &[u8], universe: u32, out: &mut Vec<u32>) -> Result<(), String> {
    let (n, used) = read_leb128(bytes).ok_or("truncated length prefix")?;
    // Every value takes at least one bit of the high part.
    let n = usize::try_from(n)
        .ok()
        .filter(|&n| n <= bytes.len() * 8)
        .ok_or_else(|| format!("{n} values cannot fit a record of {} bytes", bytes.len()))?;
    let low = low_bits(n, universe);
    let lows_len = (n * low as usize).div_ceil(8);
    let highs_bits = high_len(n, universe, low);
    let expected = used + lows_len + highs_bits.div_ceil(8);
    if bytes.len() != expected {
        return Err(format!(
            "record of {} bytes, {n} values below {universe} take {expected}",
            bytes.len()
        ));
    }
    let lows = &bytes[used..used + lows_len];
    let highs = &bytes[used + lows_len..];

    out.reserve(n);
    let mut i = 0usize;
    let mut prev = 0u32;
    for (w, chunk) in highs.chunks(8).enumerate() {
        let mut word = read_word(chunk);
        while word != 0 {
            let pos = w * 64 + word.trailing_zeros() as usize;
            word &= word - 1;
            if i == n || pos >= highs_bits {
                return Err(format!("more than {n} entries in the high part"));
            }
            let high = (pos - i) as u64;
            let v = (high << low) | read_bits(lows, i * low as usize, low);
            if v >= u64::from(universe) || (v as u32) < prev {
                return Err(format!("entry {i} ({v}) out of range or out of order"));
            }
            prev = v as u32;
            out.push(prev);
            i += 1;
        }
    }
    if i != n {
        return Err(format!("{i} entries in the high part, {n} announced"));
    }
    Ok(())
}

/// Little-endian word of up to 8 bytes, zero-padded.
#[inline]
fn read_word(chunk: &[u8]) -> u64 {
    let mut buf = [0u8; 8];
    buf[..chunk.len()].copy_from_slice(chunk);
    u64::from_le_bytes(buf)
}

/// `width` (<= 31) bits starting at bit `pos`.
#[inline]
fn read_bits(bytes: &[u8], pos: usize, width: u32) -> u64 {
    if width == 0 {
        return 0;
    }
    let start = pos / 8;
    let word = match bytes.get(start..start + 8) {
        // The common case: one unaligned load.
        Some(eight) => u64::from_le_bytes(eight.try_into().unwrap_or_default()),
        None => read_word(&bytes[start..]),
    };
    (word >> (pos % 8)) & ((1u64 << width) - 1)
}

/// Packs bit fields least significant bit first.
struct BitWriter<'a> {
    out: &'a mut Vec<u8>,
    acc: u64,
    filled: u32,
}

impl<'a> BitWriter<'a> {
    fn new(out: &'a mut Vec<u8>) -> Self {
        BitWriter {
            out,
            acc: 0,
            filled: 0,
        }
    }

    /// Appends the `width` (<= 32) low bits of `value`.
    fn push(&mut self, value: u64, width: u32) {
        self.acc |= value << self.filled;
        self.filled += width;
        while self.filled >= 8 {
            self.out.push(self.acc as u8);
            self.acc >>= 8;
            self.filled -= 8;
        }
    }

    fn finish(self) {
        if self.filled > 0 {
            self.out.push(self.acc as u8);
        }
    }
}

fn leb128_len(mut v: u64) -> usize {
    let mut len = 1;
    while v >= 0x80 {
        v >>= 7;
        len += 1;
    }
    len
}

fn write_leb128(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// The value and the bytes it used; None when truncated or longer than 10 bytes.
fn read_leb128(bytes: &[u8]) -> Option<(u64, usize)> {
    let mut v = 0u64;
    for (i, &b) in bytes.iter().take(10).enumerate() {
        v |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some((v, i + 1));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn round_trip(values: &[u32], universe: u32) -> Vec<u32> {
        let mut bytes = Vec::new();
        encode(values, universe, &mut bytes).unwrap();
        assert_eq!(bytes.len(), encoded_len(values.len(), universe));
        let mut out = vec![7]; // decode appends
        decode(&bytes, universe, &mut out).unwrap();
        assert_eq!(out.remove(0), 7);
        out
    }

    proptest! {
        #[test]
        fn sorted_sequences_round_trip(
            mut values in proptest::collection::vec(0u32..100_000, 0..600),
            extra in 1u32..50_000,
        ) {
            values.sort_unstable();
            let universe = values.last().map_or(extra, |&m| m + extra);
            prop_assert_eq!(round_trip(&values, universe), values);
        }

        #[test]
        fn any_corruption_errors_or_stays_in_range(
            mut values in proptest::collection::vec(0u32..5_000, 1..200),
            flip in 0usize..10_000,
            cut in 0usize..10_000,
        ) {
            values.sort_unstable();
            values.dedup();
            let universe = 5_000;
            let mut bytes = Vec::new();
            encode(&values, universe, &mut bytes).unwrap();
            let mut flipped = bytes.clone();
            let at = flip % flipped.len();
            flipped[at] ^= 1 << (flip % 8);
            let mut out = Vec::new();
            if decode(&flipped, universe, &mut out).is_ok() {
                prop_assert!(out.windows(2).all(|w| w[0] <= w[1]));
                prop_assert!(out.iter().all(|&v| v < universe));
            }
            let truncated = &bytes[..cut % bytes.len()];
            prop_assert!(decode(truncated, universe, &mut Vec::new()).is_err());
        }
    }

    #[test]
    fn edge_cases() {
        assert_eq!(round_trip(&[], 1), Vec::<u32>::new());
        assert_eq!(round_trip(&[0], 1), vec![0]);
        assert_eq!(round_trip(&[0, 0, 0], 1), vec![0, 0, 0]);
        assert_eq!(round_trip(&[u32::MAX - 1], u32::MAX), vec![u32::MAX - 1]);
        let dense: Vec<u32> = (0..1000).collect();
        assert_eq!(round_trip(&dense, 1000), dense);
    }

    #[test]
    fn bad_input_is_refused() {
        let mut out = Vec::new();
        assert!(encode(&[5], 5, &mut out).is_err());
        assert!(encode(&[3, 2], 5, &mut out).is_err());
        assert!(decode(&[], 10, &mut Vec::new()).is_err());
        assert!(decode(&[0xff; 11], 10, &mut Vec::new()).is_err());
        // 200 values below 10 cannot be a posting list of 10 documents.
        assert!(decode(&[200, 1], 10, &mut Vec::new()).is_err());
    }

    #[test]
    fn about_eleven_bits_an_entry_at_posting_density() {
        // 213 documents of 100,000, spread evenly.
        let values: Vec<u32> = (0..213).map(|i| i * 469).collect();
        let bits = encoded_len(values.len(), 100_000) as f64 * 8.0 / 213.0;
        assert!((10.0..11.5).contains(&bits), "{bits} bits an entry");
    }
}
