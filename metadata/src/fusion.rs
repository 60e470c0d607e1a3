//! Reciprocal rank fusion (Cormack, Clarke and Büttcher, SIGIR 2009).

use std::collections::{HashMap, HashSet};
use std::hash::Hash;

use crate::error::{MetadataError, Result};

/// The usual constant of reciprocal rank fusion.
pub const DEFAULT_RRF_K: f32 = 60.0;

/// Fuses ranked lists: each key scores `Σ 1 / (k_rrf + rank)` over the lists it appears
/// in, with `rank` its 1-based position there. Lists must be sorted best first; their
/// scores are not used (which is the point: BM25 and MaxSim scores do not compare). A key
/// repeated within one list counts at its first position only. Returns the `top` best,
/// highest fused score first; ties go to the key seen first (earlier list, then earlier
/// position), so the order is deterministic. `k_rrf` must be finite and non-negative.
pub fn reciprocal_rank_fusion<K: Eq + Hash + Clone>(
    lists: &[&[(K, f32)]],
    k_rrf: f32,
    top: usize,
) -> Result<Vec<(K, f32)>> {
    if !k_rrf.is_finite() || k_rrf < 0.0 {
        return Err(MetadataError::InvalidArgument(format!(
            "the rank-fusion constant must be finite and at least 0, got {k_rrf}"
        )));
    }
    // key -> (fused score, order of first sight)
    let mut fused: HashMap<&K, (f64, usize)> = HashMap::new();
    for list in lists {
        let mut seen = HashSet::with_capacity(list.len());
        for (position, (key, _)) in list.iter().enumerate() {
            if !seen.insert(key) {
                continue;
            }
            let next = fused.len();
            let entry = fused.entry(key).or_insert((0.0, next));
            entry.0 += 1.0 / (f64::from(k_rrf) + position as f64 + 1.0);
        }
    }
    let mut ranked: Vec<(&K, (f64, usize))> = fused.into_iter().collect();
    ranked.sort_by(|a, b| b.1 .0.total_cmp(&a.1 .0).then(a.1 .1.cmp(&b.1 .1)));
    Ok(ranked
        .into_iter()
        .take(top)
        .map(|(key, (score, _))| (key.clone(), score as f32))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_high_in_both_lists_beats_one_first_in_a_single_list() {
        let lexical: &[(&str, f32)] = &[("a", 9.0), ("b", 5.0), ("c", 1.0)];
        let dense: &[(&str, f32)] = &[("b", 0.9), ("d", 0.8), ("a", 0.1)];
        let fused = reciprocal_rank_fusion(&[lexical, dense], 60.0, 10).expect("valid k");
        let keys: Vec<&str> = fused.iter().map(|(k, _)| *k).collect();
        assert_eq!(keys, ["b", "a", "d", "c"]);
        let b = 1.0 / 62.0 + 1.0 / 61.0;
        assert!((fused[0].1 - b).abs() < 1e-7);
    }

    #[test]
    fn ties_go_to_the_first_seen_and_top_truncates() {
        let one: &[(u32, f32)] = &[(7, 1.0)];
        let two: &[(u32, f32)] = &[(3, 1.0)];
        let fused = reciprocal_rank_fusion(&[one, two], 60.0, 1).expect("valid k");
        assert_eq!(fused, vec![(7, 1.0 / 61.0)]);
    }

    #[test]
    fn a_repeated_key_counts_once_per_list() {
        let list: &[(u32, f32)] = &[(1, 1.0), (1, 0.5), (2, 0.4)];
        let fused = reciprocal_rank_fusion(&[list], 0.0, 10).expect("valid k");
        assert_eq!(fused, vec![(1, 1.0), (2, 1.0 / 3.0)]);
    }

    #[test]
    fn an_invalid_constant_is_an_error() {
        for k in [-1.0, f32::NAN, f32::INFINITY] {
            let err = reciprocal_rank_fusion::<u32>(&[], k, 10).expect_err("invalid");
            assert!(err.to_string().contains("rank-fusion constant"), "{err}");
        }
        assert!(reciprocal_rank_fusion::<u32>(&[], 60.0, 10)
            .expect("valid")
            .is_empty());
    }
}
