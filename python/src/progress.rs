//! Build progress as indicatif bars on the process's stderr (one a stage).

use std::sync::Mutex;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tartan_engine::BuildProgress;

/// One bar per build stage; draws nothing when stderr is not a terminal.
pub(crate) struct Bars {
    current: Mutex<Option<ProgressBar>>,
}

impl Bars {
    pub(crate) fn new() -> Self {
        Bars {
            current: Mutex::new(None),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<ProgressBar>> {
        // A bar left by a panicking thread is still a bar.
        self.current.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl BuildProgress for Bars {
    fn stage(&self, name: &str, total: u64) {
        let mut current = self.lock();
        if let Some(bar) = current.take() {
            bar.finish();
        }
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        if let Ok(style) = ProgressStyle::with_template(
            "{msg:>12} [{bar:30}] {human_pos}/{human_len} {per_sec} ETA {eta} ({elapsed})",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(name.to_string());
        *current = Some(bar);
    }

    fn advance(&self, n: u64) {
        if let Some(bar) = self.lock().as_ref() {
            bar.inc(n);
        }
    }
}

impl Drop for Bars {
    fn drop(&mut self) {
        if let Some(bar) = self.lock().take() {
            bar.finish();
        }
    }
}
