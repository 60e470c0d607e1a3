//! How the CPU forward pass uses threads.
//!
//! The encoder splits each batch into sub-batches and runs them on rayon's threads, one
//! candle forward pass each (matmuls inside may use rayon too). candle 0.11 also runs large
//! element-wise ops on a pool of its own whose workers spin between ops; next to rayon's
//! threads they compete for the same cores, and one caller at a time holds that pool. On the
//! 2-core development machine this halved query throughput, so unless the user chose
//! otherwise, the encoder sets `CANDLE_NUM_THREADS=1` (no pool workers: element-wise ops run
//! on the thread that runs the sub-batch) before candle's first CPU op.

use std::sync::Once;

/// Environment variable candle reads, once, to size its element-wise thread pool.
pub const CANDLE_NUM_THREADS: &str = "CANDLE_NUM_THREADS";

static CONFIGURE: Once = Once::new();

/// Sets `CANDLE_NUM_THREADS=1` unless it is already set; runs once per process, before the
/// first CPU encoder is built.
pub(crate) fn configure() {
    CONFIGURE.call_once(|| {
        if std::env::var_os(CANDLE_NUM_THREADS).is_none() {
            std::env::set_var(CANDLE_NUM_THREADS, "1");
        }
    });
}

/// Inputs per sub-batch when `batch` inputs run on `threads` threads: one even share each
/// (measured on 2 cores: shares of 8 or 4 inputs were no faster for documents and slower for
/// queries than 16).
pub(crate) fn sub_batch_size(batch: usize, threads: usize) -> usize {
    batch.div_ceil(threads.max(1)).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sub_batches_cover_every_thread() {
        assert_eq!(sub_batch_size(32, 2), 16);
        assert_eq!(sub_batch_size(31, 2), 16);
        assert_eq!(sub_batch_size(3, 8), 1);
        assert_eq!(sub_batch_size(0, 2), 1);
        assert_eq!(sub_batch_size(5, 0), 5);
    }

    #[test]
    fn configure_keeps_a_user_setting() {
        // Either the user's value or ours; never unset after configure().
        configure();
        assert!(std::env::var_os(CANDLE_NUM_THREADS).is_some());
    }
}
