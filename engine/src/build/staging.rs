//! The temporary directory an index is written into, beside its target, and the
//! rename that publishes it.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{EngineError, Result};

/// A temporary sibling of the target directory; removed on drop unless published.
#[derive(Debug)]
pub struct Staging {
    dir: PathBuf,
    target: PathBuf,
    overwrite: bool,
    published: bool,
}

impl Staging {
    /// Creates `<parent>/.<name>.tartan-tmp-<pid>-<n>`; fails when the target exists
    /// and `overwrite` is false.
    pub fn create(target: &Path, overwrite: bool) -> Result<Staging> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let name = target
            .file_name()
            .ok_or_else(|| EngineError::InvalidConfig {
                reason: format!("{}: not a directory name", target.display()),
            })?;
        if target.exists() && !overwrite {
            return Err(EngineError::TargetExists {
                path: target.to_path_buf(),
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
        Ok(Staging {
            dir,
            target: target.to_path_buf(),
            overwrite,
            published: false,
        })
    }

    /// The temporary directory.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// A file in the temporary directory.
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Renames the temporary directory to the target (replacing an old index when
    /// overwriting: the old one is moved aside first, then removed).
    pub fn publish(mut self) -> Result<()> {
        sync_dir(&self.dir)?;
        if self.target.exists() {
            if !self.overwrite {
                return Err(EngineError::TargetExists {
                    path: self.target.clone(),
                });
            }
            let aside = self.dir.with_extension("old");
            std::fs::rename(&self.target, &aside).map_err(|e| EngineError::io(&self.target, e))?;
            std::fs::rename(&self.dir, &self.target)
                .map_err(|e| EngineError::io(&self.target, e))?;
            self.published = true;
            let removed = if aside.is_dir() {
                std::fs::remove_dir_all(&aside)
            } else {
                std::fs::remove_file(&aside)
            };
            removed.map_err(|e| EngineError::io(&aside, e))?;
        } else {
            std::fs::rename(&self.dir, &self.target)
                .map_err(|e| EngineError::io(&self.target, e))?;
            self.published = true;
        }
        if let Some(parent) = self.target.parent().filter(|p| !p.as_os_str().is_empty()) {
            sync_dir(parent)?;
        }
        Ok(())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.published {
            // Best effort: a failed build leaves nothing behind, and never anything that opens.
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

fn sync_dir(dir: &Path) -> Result<()> {
    std::fs::File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(|e| EngineError::io(dir, e))
}
