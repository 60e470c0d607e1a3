//! Progress bars (indicatif) for long stages: encoding, k-means, compression.
//!
//! Bars draw on stderr and hide themselves when stderr is not a terminal, so
//! pipes, logs and tests stay clean.

use std::sync::Mutex;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A bar with a count, rate and ETA for a stage of known size.
pub fn bar(name: &str, total: u64, quiet: bool) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(total), draw_target(quiet));
    bar.set_style(
        ProgressStyle::with_template(
            "{msg:>12} [{bar:30}] {human_pos}/{human_len} {per_sec} ETA {eta} ({elapsed})",
        )
        .expect("valid progress template")
        .progress_chars("=> "),
    );
    bar.set_message(name.to_string());
    bar
}

fn draw_target(quiet: bool) -> ProgressDrawTarget {
    if quiet {
        ProgressDrawTarget::hidden()
    } else {
        ProgressDrawTarget::stderr()
    }
}

/// The engine's build stages (k-means, compression, ...) as successive bars.
pub struct BuildBars {
    quiet: bool,
    current: Mutex<Option<ProgressBar>>,
}

impl BuildBars {
    /// No bar until the engine announces its first stage.
    pub fn new(quiet: bool) -> Self {
        Self {
            quiet,
            current: Mutex::new(None),
        }
    }

    /// Finishes the last bar.
    pub fn finish(&self) {
        if let Some(bar) = self.lock().take() {
            bar.finish();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<ProgressBar>> {
        // A panic elsewhere cannot leave a bar half-updated in a way that matters.
        self.current.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl tartan_engine::BuildProgress for BuildBars {
    fn stage(&self, name: &str, total: u64) {
        let mut current = self.lock();
        if let Some(bar) = current.take() {
            bar.finish();
        }
        *current = Some(bar(name, total, self.quiet));
    }

    fn advance(&self, n: u64) {
        if let Some(bar) = self.lock().as_ref() {
            bar.inc(n);
        }
    }
}

impl Drop for BuildBars {
    fn drop(&mut self) {
        self.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tartan_engine::BuildProgress;

    #[test]
    fn stages_replace_each_other() {
        let bars = BuildBars::new(true);
        bars.advance(3); // before any stage: ignored
        bars.stage("k-means", 10);
        bars.advance(4);
        assert_eq!(bars.lock().as_ref().unwrap().position(), 4);
        bars.stage("compress", 5);
        assert_eq!(bars.lock().as_ref().unwrap().position(), 0);
        bars.finish();
        assert!(bars.lock().is_none());
    }
}
