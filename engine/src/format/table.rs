//! A blob of variable-length records with an offsets table, the shared layout of
//! `doc_ids.bin` and `postings.bin`.
//!
//! ```text
//! offset      size        field
//! 0           8           magic (per file: b"TARTNIDS" or b"TARTNPST")
//! 8           4           table version, u32 little endian (1)
//! 12          4           reserved, zero
//! 16          8           n, the number of records, u64 little endian
//! 24          8 * (n+1)   offsets, u64 little endian, into the blob; offsets[0] = 0,
//!                         non-decreasing, offsets[n] = blob length
//! 32 + 8n     blob        record i is blob[offsets[i] .. offsets[i+1]]
//! ```
//!
//! Opening checks the magic, the version, the count, that the file is exactly as long
//! as the table says and that the offsets are monotonic, so reading a record never
//! goes out of bounds.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use memmap2::Mmap;

use crate::error::{EngineError, Result};
use crate::format::npy::map_file;

const TABLE_VERSION: u32 = 1;
const HEADER_LEN: usize = 24;

/// Writes `records` as a table file with `magic`.
pub fn write_table<'a>(
    path: &Path,
    magic: &[u8; 8],
    records: impl ExactSizeIterator<Item = &'a [u8]> + Clone,
) -> Result<()> {
    let io = |e| EngineError::io(path, e);
    let file = File::create(path).map_err(io)?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    out.write_all(magic).map_err(io)?;
    out.write_all(&TABLE_VERSION.to_le_bytes()).map_err(io)?;
    out.write_all(&0u32.to_le_bytes()).map_err(io)?;
    out.write_all(&(records.len() as u64).to_le_bytes())
        .map_err(io)?;
    let mut offset = 0u64;
    out.write_all(&offset.to_le_bytes()).map_err(io)?;
    for r in records.clone() {
        offset += r.len() as u64;
        out.write_all(&offset.to_le_bytes()).map_err(io)?;
    }
    for r in records {
        out.write_all(r).map_err(io)?;
    }
    let file = out.into_inner().map_err(|e| io(e.into_error()))?;
    file.sync_all().map_err(io)
}

/// A mapped table file.
pub struct Table {
    map: Mmap,
    path: PathBuf,
    len: usize,
}

impl Table {
    /// Maps and validates `path`, which must hold `expected_len` records.
    pub fn open(path: &Path, magic: &[u8; 8], expected_len: usize) -> Result<Table> {
        let map = map_file(path)?;
        let corrupt = |r: String| EngineError::corrupt(path, r);
        if map.len() < HEADER_LEN || &map[..8] != magic {
            return Err(corrupt(format!(
                "bad magic (expected {:?})",
                String::from_utf8_lossy(magic)
            )));
        }
        let version = u32::from_le_bytes(map[8..12].try_into().expect("4 bytes"));
        if version != TABLE_VERSION {
            return Err(corrupt(format!(
                "table version {version}, expected {TABLE_VERSION}"
            )));
        }
        let n = u64::from_le_bytes(map[16..24].try_into().expect("8 bytes"));
        if n != expected_len as u64 {
            return Err(corrupt(format!(
                "{n} records where {expected_len} are expected"
            )));
        }
        let table_end = (expected_len + 1)
            .checked_mul(8)
            .and_then(|t| t.checked_add(HEADER_LEN))
            .filter(|&end| end <= map.len())
            .ok_or_else(|| corrupt("truncated offsets table".into()))?;
        let table = Table {
            path: path.to_path_buf(),
            len: expected_len,
            map,
        };
        let blob_len = (table.map.len() - table_end) as u64;
        let mut previous = 0u64;
        for i in 0..=expected_len {
            let o = table.offset(i);
            if (i == 0 && o != 0) || o < previous || o > blob_len {
                return Err(corrupt(format!(
                    "offset {i} ({o}) out of order or past the blob"
                )));
            }
            previous = o;
        }
        if previous != blob_len {
            return Err(corrupt(format!(
                "blob holds {blob_len} bytes, the offsets cover {previous}"
            )));
        }
        Ok(table)
    }

    fn offset(&self, i: usize) -> u64 {
        let at = HEADER_LEN + 8 * i;
        u64::from_le_bytes(self.map[at..at + 8].try_into().expect("8 bytes"))
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when there are no records.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The bytes of every record together (the blob).
    pub fn blob(&self) -> &[u8] {
        &self.map[HEADER_LEN + 8 * (self.len + 1)..]
    }

    /// Record `i`; None when `i >= len`.
    pub fn get(&self, i: usize) -> Option<&[u8]> {
        if i >= self.len {
            return None;
        }
        // Offsets were validated in `open`: monotonic and within the blob.
        let (a, b) = (self.offset(i) as usize, self.offset(i + 1) as usize);
        Some(&self.blob()[a..b])
    }

    /// Byte range of record `i` within the blob (`i < len`).
    pub fn range(&self, i: usize) -> (usize, usize) {
        (self.offset(i) as usize, self.offset(i + 1) as usize)
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Size of the file in bytes.
    pub fn file_len(&self) -> usize {
        self.map.len()
    }

    /// The whole file, header included (what its checksum covers).
    pub fn file_bytes(&self) -> &[u8] {
        &self.map
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_truncation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.bin");
        let records: Vec<&[u8]> = vec![b"a", b"", b"hello", b"\xff"];
        write_table(&path, b"TESTTEST", records.iter().copied()).unwrap();
        let t = Table::open(&path, b"TESTTEST", 4).unwrap();
        for (i, r) in records.iter().enumerate() {
            assert_eq!(t.get(i).unwrap(), *r);
        }
        assert!(t.get(4).is_none());
        assert!(Table::open(&path, b"OTHERMAG", 4).is_err());
        assert!(Table::open(&path, b"TESTTEST", 3).is_err());
        let bytes = std::fs::read(&path).unwrap();
        for cut in 0..bytes.len() {
            std::fs::write(&path, &bytes[..cut]).unwrap();
            assert!(Table::open(&path, b"TESTTEST", 4).is_err(), "cut at {cut}");
        }
    }
}
