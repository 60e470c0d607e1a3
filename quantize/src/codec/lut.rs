//! Scoring without decoding: a per-query-vector table of partial inner products.

/// The lookup table of one query vector `q` for one codec: for every byte position `s`
/// of a code and every byte value `v`, `q_s . (what v decodes to at s)`. Then
/// `score(code) = sum_s table[s][code[s]] = q . decoded residual` (32 lookups at
/// dim 128 and 2 bits), and `q . embedding ~= q . centroid + score(code)`.
///
/// Reuse one value across queries with [`crate::ResidualCodec::query_lut_into`]: it
/// keeps its allocation.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct QueryLut {
    tables: Vec<[f32; 256]>,
}

impl QueryLut {
    /// An empty table, to be filled by [`crate::ResidualCodec::query_lut_into`].
    pub fn new() -> Self {
        Self::default()
    }

    /// `q . decoded residual` of one code (`bytes_per_embedding` bytes).
    ///
    /// A code shorter or longer than the table is a caller bug: debug builds assert,
    /// release builds score the common prefix.
    #[inline]
    pub fn score(&self, code: &[u8]) -> f32 {
        debug_assert_eq!(code.len(), self.tables.len());
        // Four independent sums hide the add latency; the order is fixed, so the
        // result is deterministic.
        let mut acc = [0f32; 4];
        let mut tables = self.tables.chunks_exact(4);
        let mut bytes = code.chunks_exact(4);
        for (t, b) in (&mut tables).zip(&mut bytes) {
            acc[0] += t[0][b[0] as usize];
            acc[1] += t[1][b[1] as usize];
            acc[2] += t[2][b[2] as usize];
            acc[3] += t[3][b[3] as usize];
        }
        for (t, &b) in tables.remainder().iter().zip(bytes.remainder()) {
            acc[0] += t[b as usize];
        }
        (acc[0] + acc[1]) + (acc[2] + acc[3])
    }

    /// The number of byte positions (the codec's bytes per embedding).
    pub fn len(&self) -> usize {
        self.tables.len()
    }

    /// True before the table is filled.
    pub fn is_empty(&self) -> bool {
        self.tables.is_empty()
    }

    /// The table, one row of 256 entries per byte position.
    pub fn tables(&self) -> &[[f32; 256]] {
        &self.tables
    }

    pub(crate) fn reset(&mut self, positions: usize) {
        self.tables.clear();
        self.tables.resize(positions, [0.0; 256]);
    }

    pub(crate) fn tables_mut(&mut self) -> &mut [[f32; 256]] {
        &mut self.tables
    }
}
