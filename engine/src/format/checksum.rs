//! File checksums: CRC-32C (hardware accelerated where the CPU has it) and size,
//! recorded in the manifest for every file of an index.

use std::io::Read;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{EngineError, Result};

/// The recorded size and CRC-32C of one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileSum {
    /// Length in bytes.
    pub size: u64,
    /// CRC-32C of the whole file.
    pub crc32c: u32,
}

impl FileSum {
    /// The checksum of `bytes`.
    pub fn of_bytes(bytes: &[u8]) -> FileSum {
        FileSum {
            size: bytes.len() as u64,
            crc32c: crc32c::crc32c(bytes),
        }
    }

    /// Reads `path` in full and sums it; `advance` is told of every block read.
    pub fn of_file(path: &Path, advance: &dyn Fn(u64)) -> Result<FileSum> {
        let mut file = std::fs::File::open(path).map_err(|e| EngineError::open(path, e))?;
        let mut buf = vec![0u8; 1 << 20];
        let (mut crc, mut size) = (0u32, 0u64);
        loop {
            let n = file.read(&mut buf).map_err(|e| EngineError::io(path, e))?;
            if n == 0 {
                break;
            }
            crc = crc32c::crc32c_append(crc, &buf[..n]);
            size += n as u64;
            advance(n as u64);
        }
        Ok(FileSum { size, crc32c: crc })
    }

    /// Checks `bytes` (the file's content, already read or mapped) against this sum.
    pub fn check_bytes(&self, path: &Path, bytes: &[u8]) -> Result<()> {
        self.compare(path, FileSum::of_bytes(bytes))
    }

    /// Checks the file at `path` against this sum (a full read).
    pub fn check_file(&self, path: &Path, advance: &dyn Fn(u64)) -> Result<()> {
        let size = std::fs::metadata(path)
            .map_err(|e| EngineError::open(path, e))?
            .len();
        if size != self.size {
            return self.compare(path, FileSum { size, crc32c: 0 });
        }
        self.compare(path, FileSum::of_file(path, advance)?)
    }

    /// Checks only the size of the file at `path` (no read).
    pub fn check_size(&self, path: &Path) -> Result<()> {
        let size = std::fs::metadata(path)
            .map_err(|e| EngineError::open(path, e))?
            .len();
        if size != self.size {
            return Err(EngineError::corrupt(
                path,
                format!("{size} bytes where the manifest records {}", self.size),
            ));
        }
        Ok(())
    }

    fn compare(&self, path: &Path, found: FileSum) -> Result<()> {
        if found.size != self.size {
            return Err(EngineError::corrupt(
                path,
                format!(
                    "{} bytes where the manifest records {}",
                    found.size, self.size
                ),
            ));
        }
        if found.crc32c != self.crc32c {
            return Err(EngineError::corrupt(
                path,
                format!(
                    "checksum mismatch (crc32c {:08x}, manifest records {:08x}): the file is damaged",
                    found.crc32c, self.crc32c
                ),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flipped_bit_is_caught_and_the_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.bin");
        let mut data = vec![7u8; 3000];
        std::fs::write(&path, &data).unwrap();
        let sum = FileSum::of_file(&path, &|_| {}).unwrap();
        assert_eq!(sum, FileSum::of_bytes(&data));
        sum.check_file(&path, &|_| {}).unwrap();
        data[1234] ^= 0x10;
        std::fs::write(&path, &data).unwrap();
        let err = sum.check_file(&path, &|_| {}).unwrap_err().to_string();
        assert!(err.contains("x.bin") && err.contains("checksum"), "{err}");
        std::fs::write(&path, &data[..10]).unwrap();
        let err = sum.check_file(&path, &|_| {}).unwrap_err().to_string();
        assert!(err.contains("10 bytes"), "{err}");
    }
}
