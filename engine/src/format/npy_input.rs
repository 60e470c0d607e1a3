//! `.npy` files a user gives (token embeddings, document lengths, query embeddings), as
//! opposed to the index's own files: memory-mapped and checked against their header
//! once, with every problem an [`EngineError::InvalidInput`] naming the file.
//!
//! The header parser is the index's own ([`super::npy::parse_header`], fuzzed), so
//! numpy files and index files are read by one implementation.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use memmap2::Mmap;

use super::npy::{map_file, parse_header, Dtype, NpyHeader};
use crate::error::{EngineError, Result};

/// A `.npy` input file, mapped, whose length matches its header exactly.
pub struct NpyInput {
    path: PathBuf,
    map: Mmap,
    header: NpyHeader,
}

impl NpyInput {
    /// Maps `path` and checks that it holds exactly the data its header announces.
    ///
    /// Errors: [`EngineError::InvalidInput`] for a missing file, a header that is not
    /// numpy's (or a dtype the index does not use) and a truncated or overlong file.
    pub fn open(path: &Path) -> Result<NpyInput> {
        let map = map_file(path).map_err(|e| match e {
            EngineError::MissingFile { path } => EngineError::InvalidInput {
                path,
                reason: "no such file".into(),
            },
            other => other,
        })?;
        let invalid = |reason: String| EngineError::InvalidInput {
            path: path.to_path_buf(),
            reason,
        };
        let header = parse_header(&map).map_err(invalid)?;
        let want = header
            .data_len()
            .ok_or_else(|| invalid("shape overflows".into()))?;
        let have = map.len().saturating_sub(header.data_offset);
        if have != want {
            return Err(invalid(format!(
                "shape {:?} needs {want} data bytes, the file holds {have} (truncated or corrupt)",
                header.shape
            )));
        }
        Ok(NpyInput {
            path: path.to_path_buf(),
            map,
            header,
        })
    }

    /// The parsed header.
    pub fn header(&self) -> &NpyHeader {
        &self.header
    }

    /// The array's shape, outermost first.
    pub fn shape(&self) -> &[usize] {
        &self.header.shape
    }

    /// The file map behind [`NpyInput::data`].
    pub(crate) fn map(&self) -> &Mmap {
        &self.map
    }

    /// The data bytes (after the header).
    pub fn data(&self) -> &[u8] {
        &self.map[self.header.data_offset..]
    }

    /// An [`EngineError::InvalidInput`] about this file.
    pub fn invalid(&self, reason: impl Into<String>) -> EngineError {
        EngineError::InvalidInput {
            path: self.path.clone(),
            reason: reason.into(),
        }
    }

    /// The elements of a float32 array, row major: viewed in place when the data is
    /// aligned (every file numpy 1.x or tartan writes), copied otherwise.
    pub fn f32s(&self) -> Result<Cow<'_, [f32]>> {
        if self.header.dtype != Dtype::F32 {
            return Err(self.invalid(format!(
                "expected a float32 array, found dtype {}",
                self.header.dtype.descr()
            )));
        }
        let data = self.data();
        Ok(match bytemuck::try_cast_slice::<u8, f32>(data) {
            Ok(view) => Cow::Borrowed(view),
            Err(_) => Cow::Owned(
                data.chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect(),
            ),
        })
    }

    /// Document lengths from a 1-D int32, int64, uint32 or uint64 array.
    pub fn lengths(&self) -> Result<Vec<u64>> {
        if self.header.shape.len() != 1 {
            return Err(self.invalid(format!(
                "expected a 1-D array of lengths, found shape {:?}",
                self.header.shape
            )));
        }
        let data = self.data();
        let values: Vec<i128> = match self.header.dtype {
            Dtype::I32 => data
                .chunks_exact(4)
                .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as i128)
                .collect(),
            Dtype::U32 => data
                .chunks_exact(4)
                .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]) as i128)
                .collect(),
            Dtype::I64 => data
                .chunks_exact(8)
                .map(|c| i64::from_le_bytes(c.try_into().expect("8-byte chunk")) as i128)
                .collect(),
            Dtype::U64 => data
                .chunks_exact(8)
                .map(|c| u64::from_le_bytes(c.try_into().expect("8-byte chunk")) as i128)
                .collect(),
            other => {
                return Err(self.invalid(format!(
                    "lengths must be int32 or int64, found {}",
                    other.descr()
                )))
            }
        };
        values
            .into_iter()
            .enumerate()
            .map(|(i, v)| {
                u64::try_from(v)
                    .map_err(|_| self.invalid(format!("negative length {v} at document {i}")))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::npy::{header_bytes, write_array};

    fn reason(err: EngineError) -> String {
        match err {
            EngineError::InvalidInput { reason, .. } => reason,
            other => panic!("expected InvalidInput, got {other}"),
        }
    }

    #[test]
    fn f32_array_round_trips_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("q.npy");
        let data: Vec<f32> = (0..24).map(|i| i as f32 * 0.5).collect();
        write_array(&path, &[2, 3, 4], &data).unwrap();
        let input = NpyInput::open(&path).unwrap();
        assert_eq!(input.shape(), &[2, 3, 4]);
        let back = input.f32s().unwrap();
        assert!(matches!(back, Cow::Borrowed(_)));
        assert_eq!(&back[..], &data[..]);
    }

    #[test]
    fn every_integer_dtype_reads_as_lengths() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.npy");
        write_array(&path, &[3], &[5i64, 7, 9]).unwrap();
        assert_eq!(NpyInput::open(&path).unwrap().lengths().unwrap(), [5, 7, 9]);
        write_array(&path, &[2], &[1u32, 2]).unwrap();
        assert_eq!(NpyInput::open(&path).unwrap().lengths().unwrap(), [1, 2]);
        write_array(&path, &[2], &[4i32, -1]).unwrap();
        let err = NpyInput::open(&path).unwrap().lengths().unwrap_err();
        assert!(reason(err).contains("negative length -1 at document 1"));
    }

    #[test]
    fn truncated_foreign_and_mistyped_files_are_named_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.npy");
        write_array(&path, &[4, 2], &[0.0f32; 8]).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 3]).unwrap();
        let err = NpyInput::open(&path).err().unwrap();
        assert!(err.to_string().contains("t.npy"), "{err}");
        assert!(reason(err).contains("truncated or corrupt"));

        std::fs::write(&path, b"hello world, not numpy").unwrap();
        assert!(reason(NpyInput::open(&path).err().unwrap()).contains("bad magic"));

        write_array(&path, &[2], &[1i64, 2]).unwrap();
        let err = NpyInput::open(&path).unwrap().f32s().unwrap_err();
        assert!(reason(err).contains("expected a float32 array, found dtype <i8"));

        let missing = dir.path().join("missing.npy");
        assert!(reason(NpyInput::open(&missing).err().unwrap()).contains("no such file"));
    }

    #[test]
    fn unaligned_data_is_copied() {
        // A header padded to 129 bytes puts the data at an odd offset.
        let mut bytes = header_bytes(Dtype::F32, &[2], Some(129));
        bytes.extend_from_slice(&1.5f32.to_le_bytes());
        bytes.extend_from_slice(&(-2.0f32).to_le_bytes());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("u.npy");
        std::fs::write(&path, bytes).unwrap();
        let input = NpyInput::open(&path).unwrap();
        assert_eq!(&input.f32s().unwrap()[..], &[1.5, -2.0]);
    }
}
