//! Where a build writes, and how it publishes.
//!
//! - A new target: everything (codec, segment, manifest, `CURRENT`) is written into a
//!   temporary sibling `.<name>.tartan-tmp-<pid>-<n>` and renamed into place last: the
//!   index appears complete or not at all.
//! - An existing index (or an empty directory), replaced with `overwrite`: under the
//!   writer lock, the new codec and segment are written into it under new names, and
//!   the commit is the swap of `CURRENT` to a new generation. At every instant a reader
//!   finds the old or the new complete index; the old generation's files are removed
//!   after the swap (a crash before that leaves them to the next writer).
//!
//! Staging directories of dead processes beside the target are removed by the next
//! build, and reported.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{EngineError, Result};
use crate::format::manifest::{
    read_current, swap_current, sync_dir, write_manifest, Manifest, CURRENT, LOCK,
};
use crate::writer::cleanup::{ours, remove_stale_staging, remove_unreferenced};
use crate::writer::lock::WriterLock;

/// A build's output location.
#[derive(Debug)]
pub(crate) struct Target {
    target: PathBuf,
    /// Where the generation's files go: the staging directory (new target) or the
    /// target itself (in place).
    root: PathBuf,
    /// Where temporary files (the builder's spill) go.
    scratch: PathBuf,
    in_place: bool,
    lock: Option<WriterLock>,
    previous: Option<Manifest>,
    published: bool,
    /// What was cleaned up or taken over, for the caller to report.
    pub notes: Vec<String>,
}

/// The names a new generation gets.
pub(crate) struct Names {
    pub generation: u64,
    pub codec_dir: String,
    pub segment: String,
    pub next_file_number: u64,
}

impl Target {
    /// Prepares a build of `target`. Fails when it exists and `overwrite` is false, or
    /// when it is a non-empty directory that is not a tartan index (never replaced).
    pub fn create(target: &Path, overwrite: bool) -> Result<Target> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let name = target
            .file_name()
            .ok_or_else(|| EngineError::InvalidConfig {
                reason: format!("{}: not a directory name", target.display()),
            })?;
        let mut notes: Vec<String> = remove_stale_staging(target)?
            .into_iter()
            .map(|p| format!("removed {} left by an interrupted build", p.display()))
            .collect();
        let exists = target.exists();
        if exists && !overwrite {
            return Err(EngineError::TargetExists {
                path: target.to_path_buf(),
            });
        }
        if exists {
            if !target.is_dir() {
                return Err(EngineError::InvalidConfig {
                    reason: format!(
                        "{}: exists and is not a directory; refusing to replace it",
                        target.display()
                    ),
                });
            }
            check_replaceable(target)?;
            let lock = WriterLock::acquire(target)?;
            if let Some(pid) = lock.took_over() {
                notes.push(format!(
                    "took over the lock of a writer that is gone (pid {pid})"
                ));
            }
            let previous = read_current(target)?.map(|(_, m)| m);
            let scratch = target.join(format!(
                "tmp-{}-{}",
                std::process::id(),
                COUNTER.fetch_add(1, Ordering::Relaxed)
            ));
            std::fs::create_dir(&scratch).map_err(|e| EngineError::io(&scratch, e))?;
            return Ok(Target {
                target: target.to_path_buf(),
                root: target.to_path_buf(),
                scratch,
                in_place: true,
                lock: Some(lock),
                previous,
                published: false,
                notes,
            });
        }
        let parent = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        std::fs::create_dir_all(&parent).map_err(|e| EngineError::io(&parent, e))?;
        let dir = parent.join(format!(
            ".{}.tartan-tmp-{}-{}",
            name.to_string_lossy(),
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir(&dir).map_err(|e| EngineError::io(&dir, e))?;
        Ok(Target {
            target: target.to_path_buf(),
            root: dir.clone(),
            scratch: dir,
            in_place: false,
            lock: None,
            previous: None,
            published: false,
            notes,
        })
    }

    /// A temporary file's path (removed with the scratch space).
    pub fn scratch_file(&self, name: &str) -> PathBuf {
        self.scratch.join(name)
    }

    /// The directory the new generation's files go into.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Names for the new generation's codec and segment.
    pub fn names(&self) -> Names {
        let (generation, first) = match &self.previous {
            Some(m) => (m.generation + 1, m.next_file_number),
            None => (1, 1),
        };
        Names {
            generation,
            codec_dir: format!("codec-{first:06}"),
            segment: format!("seg-{:06}", first + 1),
            next_file_number: first + 2,
        }
    }

    /// Commits `manifest` (whose files are written and synced under [`Target::root`])
    /// and makes it the target's current generation.
    pub fn publish(mut self, manifest: &Manifest) -> Result<Vec<String>> {
        if self.in_place {
            let _ = std::fs::remove_dir_all(&self.scratch);
        }
        write_manifest(&self.root, manifest)?;
        fail::fail_point!("build.before_commit", |_| Err(
            crate::format::manifest::injected("build.before_commit")
        ));
        if self.in_place {
            swap_current(&self.root, manifest.generation)?;
            self.published = true;
            fail::fail_point!("build.after_commit", |_| Err(
                crate::format::manifest::injected("build.after_commit")
            ));
            for path in remove_unreferenced(&self.root, manifest)? {
                self.notes
                    .push(format!("removed {} (replaced generation)", path.display()));
            }
            remove_format2_files(&self.root)?;
        } else {
            swap_current(&self.root, manifest.generation)?;
            sync_dir(&self.root)?;
            std::fs::rename(&self.root, &self.target)
                .map_err(|e| EngineError::io(&self.target, e))?;
            self.published = true;
            if let Some(parent) = self.target.parent().filter(|p| !p.as_os_str().is_empty()) {
                sync_dir(parent)?;
            }
        }
        drop(self.lock.take());
        Ok(std::mem::take(&mut self.notes))
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        if !self.published {
            // Best effort: a failed build leaves nothing that opens. In place, the
            // unreferenced new files are the next writer's to remove if this fails.
            let _ = std::fs::remove_dir_all(&self.scratch);
            if self.in_place {
                if let Ok(Some((_, m))) = read_current(&self.root) {
                    let _ = remove_unreferenced(&self.root, &m);
                }
            }
        }
    }
}

/// An existing target may be replaced when it is a tartan index (format 3 or 2), or
/// holds nothing but what an index writes (an empty directory, an interrupted build).
fn check_replaceable(target: &Path) -> Result<()> {
    if target.join(CURRENT).exists() || target.join(crate::format::META).exists() {
        return Ok(());
    }
    let entries = std::fs::read_dir(target).map_err(|e| EngineError::io(target, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| EngineError::io(target, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !(ours(&name) || name == LOCK) {
            return Err(EngineError::InvalidConfig {
                reason: format!(
                    "{}: exists and is not a tartan index (it holds {name:?}); refusing to replace it",
                    target.display()
                ),
            });
        }
    }
    Ok(())
}

/// After a format-3 generation replaced a format-2 index in place, its files go
/// (`meta.json` first: from then on nothing of it opens).
pub(crate) fn remove_format2_files(dir: &Path) -> Result<()> {
    use crate::format::*;
    let meta = dir.join(META);
    if !meta.exists() {
        return Ok(());
    }
    std::fs::remove_file(&meta).map_err(|e| EngineError::io(&meta, e))?;
    for name in [
        CENTROIDS,
        CENTROID_SCALES,
        CODEBOOKS,
        CUTOFFS,
        WEIGHTS,
        CODES,
        CENTROID_IDS,
        DOC_OFFSETS,
        POSTINGS,
        DOC_IDS,
        EMBEDDINGS,
    ] {
        let path = dir.join(name);
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(EngineError::io(&path, e)),
        }
    }
    sync_dir(dir)
}
