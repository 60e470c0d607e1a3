//! Kernels shared by both codec families.
//!
//! Both families code a residual as one byte per *slot*: a run of `sub_dim`
//! consecutive dimensions (`sub_dim = 8 / nbits`). Every slot `s` has a table of 256
//! partial vectors of `sub_dim` floats, indexed by the byte: for product codes the
//! sub-space's codebook, for scalar codes the bucket weights of the `8 / nbits` codes
//! packed in that byte value (one table shared by all slots). Decoding and the query
//! lookup table are then the same loops over `(slot, byte)`.

use super::lut::QueryLut;

/// `256 x sub_dim` floats of slot `s`.
pub(crate) trait SlotTables: Sync {
    fn slot(&self, s: usize) -> &[f32];
}

/// `out = centroid + table[s][code[s]]` for every slot.
pub(crate) fn decode_into<T: SlotTables + ?Sized>(
    tables: &T,
    sub_dim: usize,
    centroid: &[f32],
    code: &[u8],
    out: &mut [f32],
) {
    match sub_dim {
        2 => decode_fixed::<2, T>(tables, centroid, code, out),
        4 => decode_fixed::<4, T>(tables, centroid, code, out),
        8 => decode_fixed::<8, T>(tables, centroid, code, out),
        _ => unreachable!("sub_dim is 8 / nbits with nbits in {{1, 2, 4}}"),
    }
}

#[inline]
fn decode_fixed<const SD: usize, T: SlotTables + ?Sized>(
    tables: &T,
    centroid: &[f32],
    code: &[u8],
    out: &mut [f32],
) {
    for (s, ((o, c), &b)) in out
        .chunks_exact_mut(SD)
        .zip(centroid.chunks_exact(SD))
        .zip(code)
        .enumerate()
    {
        let entry = &tables.slot(s)[b as usize * SD..b as usize * SD + SD];
        for d in 0..SD {
            o[d] = c[d] + entry[d];
        }
    }
}

/// Fills `lut` with `q_s . table[s][v]` for every slot `s` and byte value `v`.
pub(crate) fn fill_lut<T: SlotTables + ?Sized>(
    tables: &T,
    sub_dim: usize,
    q: &[f32],
    lut: &mut QueryLut,
) {
    let slots = q.len() / sub_dim;
    lut.reset(slots);
    for (s, (qs, row)) in q
        .chunks_exact(sub_dim)
        .zip(lut.tables_mut().iter_mut())
        .enumerate()
    {
        for (v, entry) in row.iter_mut().zip(tables.slot(s).chunks_exact(sub_dim)) {
            *v = qs.iter().zip(entry).map(|(a, b)| a * b).sum();
        }
    }
}
