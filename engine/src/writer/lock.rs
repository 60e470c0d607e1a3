//! The writer lock: `LOCK` in the index directory, created exclusively and holding the
//! writer's process id. A lock whose process is gone (a crashed writer) is taken over.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{EngineError, Result};
use crate::format::manifest::LOCK;

/// Held while one process writes an index; removed on drop.
#[derive(Debug)]
pub struct WriterLock {
    path: PathBuf,
    /// Set when a stale lock of a dead process was taken over.
    took_over: Option<u32>,
}

impl WriterLock {
    /// Takes the lock of the index in `dir`.
    ///
    /// Errors: [`EngineError::Locked`] naming the holder's pid while that process lives.
    pub fn acquire(dir: &Path) -> Result<WriterLock> {
        let path = dir.join(LOCK);
        let mut took_over = None;
        for _ in 0..3 {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(mut file) => {
                    file.write_all(format!("{}\n", std::process::id()).as_bytes())
                        .and_then(|_| file.sync_all())
                        .map_err(|e| EngineError::io(&path, e))?;
                    return Ok(WriterLock { path, took_over });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let text = std::fs::read_to_string(&path).unwrap_or_default();
                    match text.trim().parse::<u32>() {
                        Ok(pid) if pid == std::process::id() => {
                            return Err(EngineError::Locked { path, pid });
                        }
                        Ok(pid) if process_alive(pid) => {
                            return Err(EngineError::Locked { path, pid });
                        }
                        // A dead holder, or a lock file cut short by a crash while it
                        // was being written: stale.
                        other => {
                            took_over = other.ok().or(Some(0));
                            match std::fs::remove_file(&path) {
                                Ok(()) => {}
                                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                                Err(e) => return Err(EngineError::io(&path, e)),
                            }
                        }
                    }
                }
                Err(e) => return Err(EngineError::io(&path, e)),
            }
        }
        Err(EngineError::io(
            &path,
            std::io::Error::other("the lock changed hands repeatedly while being taken"),
        ))
    }

    /// The pid of a dead writer whose stale lock was taken over (0: unreadable lock).
    pub fn took_over(&self) -> Option<u32> {
        self.took_over
    }
}

impl Drop for WriterLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Whether process `pid` exists (signal 0 probes without sending anything).
pub(crate) fn process_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    if pid <= 0 {
        return false;
    }
    // SAFETY: kill with signal 0 performs only the existence and permission check.
    let r = unsafe { libc::kill(pid, 0) };
    r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_writer_is_refused_and_a_dead_holder_is_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let lock = WriterLock::acquire(dir.path()).unwrap();
        let err = WriterLock::acquire(dir.path()).unwrap_err();
        assert!(
            matches!(err, EngineError::Locked { pid, .. } if pid == std::process::id()),
            "{err}"
        );
        drop(lock);
        assert!(!dir.path().join(LOCK).exists());
        // A pid that cannot be alive (above the kernel's pid_max).
        std::fs::write(dir.path().join(LOCK), "4194305\n").unwrap();
        let lock = WriterLock::acquire(dir.path()).unwrap();
        assert_eq!(lock.took_over(), Some(4194305));
        drop(lock);
        // A lock cut short by a crash.
        std::fs::write(dir.path().join(LOCK), "").unwrap();
        assert!(WriterLock::acquire(dir.path()).is_ok());
    }
}
