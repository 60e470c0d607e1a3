//! Latency summaries: percentiles and throughput of per-query timings.

use std::time::Duration;

use serde::Serialize;

/// Percentiles of a set of timings, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LatencySummary {
    /// Number of timings.
    pub count: usize,
    /// Mean, ms.
    pub mean_ms: f64,
    /// Median, ms.
    pub p50_ms: f64,
    /// 95th percentile, ms.
    pub p95_ms: f64,
    /// 99th percentile, ms.
    pub p99_ms: f64,
    /// Slowest, ms.
    pub max_ms: f64,
    /// Items per second one after another: count / sum of timings.
    pub per_second: f64,
}

impl LatencySummary {
    /// Summarises `timings` (percentiles by the nearest-rank method).
    pub fn of(timings: &[Duration]) -> Self {
        let mut ms: Vec<f64> = timings.iter().map(|d| d.as_secs_f64() * 1e3).collect();
        ms.sort_by(f64::total_cmp);
        let total: f64 = ms.iter().sum();
        let count = ms.len();
        Self {
            count,
            mean_ms: if count == 0 {
                0.0
            } else {
                total / count as f64
            },
            p50_ms: percentile(&ms, 50.0),
            p95_ms: percentile(&ms, 95.0),
            p99_ms: percentile(&ms, 99.0),
            max_ms: ms.last().copied().unwrap_or(0.0),
            per_second: if total > 0.0 {
                count as f64 / (total / 1e3)
            } else {
                0.0
            },
        }
    }
}

/// Nearest-rank percentile of sorted values (0 when empty).
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), 50.0);
        assert_eq!(percentile(&v, 95.0), 95.0);
        assert_eq!(percentile(&v, 100.0), 100.0);
        assert_eq!(percentile(&[3.0], 95.0), 3.0);
        assert_eq!(percentile(&[], 50.0), 0.0);
    }

    #[test]
    fn summary_of_timings() {
        let t: Vec<Duration> = [4u64, 1, 3, 2]
            .iter()
            .map(|&m| Duration::from_millis(m))
            .collect();
        let s = LatencySummary::of(&t);
        assert_eq!(s.count, 4);
        assert!((s.p50_ms - 2.0).abs() < 1e-9);
        assert!((s.max_ms - 4.0).abs() < 1e-9);
        assert!((s.mean_ms - 2.5).abs() < 1e-9);
        assert!((s.per_second - 400.0).abs() < 1e-6);
    }
}
