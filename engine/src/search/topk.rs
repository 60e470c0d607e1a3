//! Selecting the best `(score, doc)` pairs: score descending, then doc ascending, so
//! results are deterministic under ties.

use std::cmp::Ordering;

use super::params::SearchHit;

/// Best first.
#[inline]
pub(crate) fn better(a: &(f32, u32), b: &(f32, u32)) -> Ordering {
    b.0.total_cmp(&a.0).then(a.1.cmp(&b.1))
}

/// Keeps the `n` best of `items` (in no particular order).
pub(crate) fn keep_best(items: &mut Vec<(f32, u32)>, n: usize) {
    if n == 0 {
        items.clear();
    } else if items.len() > n {
        items.select_nth_unstable_by(n - 1, better);
        items.truncate(n);
    }
}

/// The `k` best as sorted hits.
pub(crate) fn top_hits(items: &mut Vec<(f32, u32)>, k: usize) -> Vec<SearchHit> {
    keep_best(items, k);
    items.sort_unstable_by(better);
    items
        .iter()
        .map(|&(score, doc)| SearchHit { doc, score })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn top_hits_equals_full_sort(scores in proptest::collection::vec(-3i8..3, 0..60), k in 0usize..70) {
            let items: Vec<(f32, u32)> = scores.iter().enumerate().map(|(d, &s)| (s as f32, d as u32)).collect();
            let mut sorted = items.clone();
            sorted.sort_by(better);
            sorted.truncate(k);
            let got = top_hits(&mut items.clone(), k);
            let want: Vec<SearchHit> = sorted.iter().map(|&(score, doc)| SearchHit { doc, score }).collect();
            proptest::prop_assert_eq!(got, want);
        }
    }
}
