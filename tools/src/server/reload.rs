//! Live reload: the served snapshot is replaced when the index's `CURRENT` names a new
//! generation (a commit by `tartan add`, `delete`, `optimize`, or a `--force` rebuild),
//! polled every `--reload-interval` or on `POST /reload`. Searches hold the snapshot
//! they started on (an `Arc`), so in-flight requests finish on the old generation while
//! new ones see the new one.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use anyhow::{Context, Result};
use tartan_engine::Index;

/// The served index, swappable.
pub struct Snapshot {
    dir: PathBuf,
    current: RwLock<Arc<Index>>,
    /// The `CURRENT` text the served snapshot was opened from.
    marker: Mutex<String>,
    /// Reloads done since start.
    pub reloads: AtomicU64,
}

/// What `CURRENT` says now ("" for a format-2 index, which never changes in place).
fn marker(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("CURRENT")).unwrap_or_default()
}

impl Snapshot {
    /// Serves `index`, opened from `dir`.
    pub fn new(dir: &Path, index: Index) -> Self {
        Snapshot {
            dir: dir.to_path_buf(),
            marker: Mutex::new(marker(dir)),
            current: RwLock::new(Arc::new(index)),
            reloads: AtomicU64::new(0),
        }
    }

    /// The snapshot to search now.
    pub fn get(&self) -> Arc<Index> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Opens the generation `CURRENT` names when it differs from the served one (or
    /// always, with `force`) and swaps it in; returns the served generation and whether
    /// it changed. A failed open keeps the old snapshot.
    pub fn reload(&self, force: bool) -> Result<(u64, bool)> {
        let mut served = self.marker.lock().unwrap_or_else(|e| e.into_inner());
        let now = marker(&self.dir);
        if !force && now == *served {
            return Ok((self.get().generation(), false));
        }
        let index = Index::open(&self.dir)
            .with_context(|| format!("cannot reopen {}", self.dir.display()))?;
        let generation = index.generation();
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(index);
        *served = now;
        self.reloads.fetch_add(1, Ordering::Relaxed);
        Ok((generation, true))
    }
}

/// Polls `CURRENT` every `every` and reloads on change, logging each swap or failure.
pub async fn watch(snapshot: Arc<Snapshot>, every: Duration) {
    let mut ticker = tokio::time::interval(every);
    ticker.tick().await;
    loop {
        ticker.tick().await;
        let s = snapshot.clone();
        match tokio::task::spawn_blocking(move || s.reload(false)).await {
            Ok(Ok((generation, true))) => {
                eprintln!("reloaded: now serving generation {generation}");
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => eprintln!("reload failed, still serving the previous generation: {e:#}"),
            Err(e) => eprintln!("reload task failed: {e}"),
        }
    }
}
