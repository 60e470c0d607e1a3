//! Recall of one ranking against another, the measure every quality check here uses.

use super::params::SearchHit;

/// The fraction of `truth`'s documents that `got` contains (1.0 for an empty `truth`):
/// recall@n of `got` when `truth` is a reference top-n.
pub fn recall(got: &[SearchHit], truth: &[SearchHit]) -> f64 {
    if truth.is_empty() {
        return 1.0;
    }
    let found = truth
        .iter()
        .filter(|t| got.iter().any(|g| g.doc == t.doc))
        .count();
    found as f64 / truth.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hits(docs: &[u32]) -> Vec<SearchHit> {
        docs.iter()
            .map(|&doc| SearchHit { doc, score: 0.0 })
            .collect()
    }

    #[test]
    fn recall_counts_the_reference_documents_found() {
        assert_eq!(recall(&hits(&[1, 2, 3]), &hits(&[3, 4])), 0.5);
        assert_eq!(recall(&hits(&[]), &hits(&[3, 4])), 0.0);
        assert_eq!(recall(&hits(&[4, 3]), &hits(&[3, 4])), 1.0);
        assert_eq!(recall(&hits(&[1]), &hits(&[])), 1.0);
    }
}
