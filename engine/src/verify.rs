//! [`Index::verify`]: a full read of every file of a snapshot against the checksums
//! its manifest records (opening checks only the small files).

use crate::error::{EngineError, Result};
use crate::format::checksum::FileSum;
use crate::index::Index;

/// What a verification read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VerifyReport {
    /// Files checked.
    pub files: usize,
    /// Bytes read.
    pub bytes: u64,
}

impl Index {
    /// Reads every file of this snapshot in full and checks its size and CRC-32C
    /// against the manifest; `advance` is told of every block read (for a progress bar;
    /// the total is [`Index::verify_bytes`]). The first damaged file is the error,
    /// naming it.
    ///
    /// Errors: [`EngineError::Corrupt`] naming the damaged file;
    /// [`EngineError::ReadOnlyFormat`] for a format-2 index, which records no
    /// checksums (upgrade it to have them).
    pub fn verify(&self, advance: &dyn Fn(u64)) -> Result<VerifyReport> {
        let mut report = VerifyReport::default();
        for (path, sum) in self.checksummed_files()? {
            sum.check_file(&path, advance)?;
            report.files += 1;
            report.bytes += sum.size;
        }
        Ok(report)
    }

    /// Bytes [`Index::verify`] reads.
    pub fn verify_bytes(&self) -> u64 {
        self.checksummed_files()
            .map(|f| f.iter().map(|(_, s)| s.size).sum())
            .unwrap_or(0)
    }

    fn checksummed_files(&self) -> Result<Vec<(std::path::PathBuf, FileSum)>> {
        let manifest = self.manifest().ok_or_else(|| EngineError::ReadOnlyFormat {
            path: self.path().to_path_buf(),
            found: self.meta().format_version,
        })?;
        let dir = self.path();
        let mut files = Vec::new();
        for (name, sum) in &manifest.codec_files {
            files.push((dir.join(&manifest.codec_dir).join(name), *sum));
        }
        for seg in &manifest.segments {
            for (name, sum) in &seg.files {
                files.push((dir.join(&seg.name).join(name), *sum));
            }
            if let Some(d) = &seg.deletes {
                files.push((dir.join(&d.file), d.sum));
            }
        }
        Ok(files)
    }
}
