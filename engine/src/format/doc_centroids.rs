//! `centroid_ids.bin`: the centroid of every embedding, one Elias–Fano record a document.
//!
//! MaxSim does not depend on the order of a document's embeddings, so the builder
//! stores each document's embeddings sorted by centroid id. A document's ids are then
//! a non-decreasing sequence below `num_centroids`, which Elias–Fano codes in about
//! `log2(num_centroids / len) + 2` bits an embedding (10 bits for 70 embeddings among
//! 32,768 centroids, against 16 for a plain u16 array).
//!
//! ```text
//! offset  size  field
//! 0       8     magic b"TARTNCID"
//! 8       4     version, u32 little endian (1)
//! 12      4     reserved, zero
//! 16      ...   one record a document, in document order (elias_fano.rs), with
//!               n = the document's number of embeddings
//! ```
//!
//! A record's length is a function of its document's length and the number of
//! centroids, so the record offsets are computed from `doc_offsets.npy` when the
//! index opens (8 bytes a document in memory) rather than stored.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use memmap2::Mmap;

use super::elias_fano;
use crate::error::{EngineError, Result};
use crate::format::npy::map_file;

/// Magic of `centroid_ids.bin`.
pub const MAGIC: &[u8; 8] = b"TARTNCID";
const VERSION: u32 = 1;
const HEADER_LEN: usize = 16;

/// Streams the records of `centroid_ids.bin`, one document at a time.
pub struct DocCentroidsWriter {
    path: PathBuf,
    out: BufWriter<File>,
    num_centroids: u32,
    record: Vec<u8>,
}

impl DocCentroidsWriter {
    /// Creates `path` for an index of `num_centroids` centroids.
    pub fn create(path: &Path, num_centroids: usize) -> Result<Self> {
        let num_centroids =
            u32::try_from(num_centroids).map_err(|_| EngineError::InvalidConfig {
                reason: format!("{num_centroids} centroids do not fit u32 ids"),
            })?;
        let io = |e| EngineError::io(path, e);
        let mut out = BufWriter::with_capacity(1 << 20, File::create(path).map_err(io)?);
        out.write_all(MAGIC).map_err(io)?;
        out.write_all(&VERSION.to_le_bytes()).map_err(io)?;
        out.write_all(&0u32.to_le_bytes()).map_err(io)?;
        Ok(DocCentroidsWriter {
            path: path.to_path_buf(),
            out,
            num_centroids,
            record: Vec::new(),
        })
    }

    /// Appends the next document's centroid ids, sorted ascending.
    pub fn push(&mut self, sorted_ids: &[u32]) -> Result<()> {
        self.record.clear();
        elias_fano::encode(sorted_ids, self.num_centroids, &mut self.record).map_err(|reason| {
            EngineError::InvalidConfig {
                reason: format!("internal: centroid ids of a document: {reason}"),
            }
        })?;
        self.out
            .write_all(&self.record)
            .map_err(|e| EngineError::io(&self.path, e))
    }

    /// Flushes and syncs the file.
    pub fn finish(self) -> Result<()> {
        let file = self
            .out
            .into_inner()
            .map_err(|e| EngineError::io(&self.path, e.into_error()))?;
        file.sync_all().map_err(|e| EngineError::io(&self.path, e))
    }
}

/// A mapped `centroid_ids.bin` with its record offsets.
pub struct DocCentroids {
    path: PathBuf,
    map: Mmap,
    num_centroids: u32,
    /// `num_documents + 1` byte offsets of the records in the map.
    starts: Vec<usize>,
}

impl DocCentroids {
    /// Maps `path` and checks its header and that its length is exactly what the
    /// document lengths (`doc_offsets`, already checked) and `num_centroids` give.
    pub fn open(path: &Path, doc_offsets: &[u64], num_centroids: usize) -> Result<Self> {
        let map = map_file(path)?;
        let corrupt = |r: String| EngineError::corrupt(path, r);
        if map.len() < HEADER_LEN || &map[..8] != MAGIC {
            return Err(corrupt("not a tartan centroid id file (bad magic)".into()));
        }
        let version = u32::from_le_bytes(map[8..12].try_into().unwrap_or_default());
        if version != VERSION {
            return Err(corrupt(format!("version {version}, expected {VERSION}")));
        }
        let k = u32::try_from(num_centroids)
            .map_err(|_| corrupt(format!("{num_centroids} centroids")))?;
        let mut starts = Vec::with_capacity(doc_offsets.len());
        let mut at = HEADER_LEN;
        starts.push(at);
        for w in doc_offsets.windows(2) {
            at += elias_fano::encoded_len((w[1] - w[0]) as usize, k);
            starts.push(at);
        }
        if at != map.len() {
            return Err(corrupt(format!(
                "{} bytes where the document lengths need {at}",
                map.len()
            )));
        }
        Ok(DocCentroids {
            path: path.to_path_buf(),
            map,
            num_centroids: k,
            starts,
        })
    }

    /// The centroid ids of document `doc` (`< num_documents`, `len` embeddings),
    /// ascending, into `out` (cleared first). A damaged record is an error naming the
    /// file.
    #[inline]
    pub fn get(&self, doc: usize, len: usize, out: &mut Vec<u32>) -> Result<()> {
        out.clear();
        let record = &self.map[self.starts[doc]..self.starts[doc + 1]];
        let corrupt = |r: String| {
            EngineError::corrupt(&self.path, format!("centroid ids of document {doc}: {r}"))
        };
        elias_fano::decode(record, self.num_centroids, out).map_err(corrupt)?;
        if out.len() != len {
            return Err(corrupt(format!("{} ids for {len} embeddings", out.len())));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_damage() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("centroid_ids.bin");
        let docs: Vec<Vec<u32>> = vec![vec![1, 1, 5, 99], vec![], vec![0], vec![3, 7, 7, 7, 8]];
        let mut w = DocCentroidsWriter::create(&path, 100).unwrap();
        for d in &docs {
            w.push(d).unwrap();
        }
        w.finish().unwrap();
        let mut offsets = vec![0u64];
        for d in &docs {
            offsets.push(offsets.last().unwrap() + d.len() as u64);
        }
        let ids = DocCentroids::open(&path, &offsets, 100).unwrap();
        let mut out = Vec::new();
        for (i, d) in docs.iter().enumerate() {
            ids.get(i, d.len(), &mut out).unwrap();
            assert!(ids.get(i, d.len() + 1, &mut out).is_err());
            assert_eq!(&out, d);
        }
        // Another document length or centroid count no longer fits the file.
        offsets[4] += 30;
        assert!(DocCentroids::open(&path, &offsets, 100).is_err());
        offsets[4] -= 30;
        assert!(DocCentroids::open(&path, &offsets, 1 << 20).is_err());
        // Unsorted input is refused by the writer.
        let mut w = DocCentroidsWriter::create(&path, 100).unwrap();
        assert!(w.push(&[5, 4]).is_err());
    }
}
