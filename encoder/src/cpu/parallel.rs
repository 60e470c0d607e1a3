//! Splitting work over the threads of the current rayon pool.

use std::ops::Range;

use rayon::prelude::*;

/// A pointer into an output buffer that several tasks write, each to its own disjoint part.
#[derive(Clone, Copy)]
pub(crate) struct SharedMut(pub(crate) *mut f32);

// SAFETY: every user hands each task a disjoint region of the buffer behind the pointer, and
// the buffer outlives the tasks (they finish before the borrowing call returns).
unsafe impl Send for SharedMut {}
unsafe impl Sync for SharedMut {}

impl SharedMut {
    /// The pointer (a method, so that closures capture the whole `Send` wrapper).
    pub(crate) fn get(self) -> *mut f32 {
        self.0
    }
}

/// `0..n` cut into at most `parts` ranges whose boundaries are multiples of `align` (the last
/// range takes the remainder); fewer ranges when `n` is small.
pub(crate) fn ranges(n: usize, parts: usize, align: usize) -> Vec<Range<usize>> {
    let parts = parts.max(1);
    let align = align.max(1);
    let per = n.div_ceil(parts).next_multiple_of(align).max(align);
    (0..n)
        .step_by(per)
        .map(|start| start..(start + per).min(n))
        .collect()
}

/// Runs `f` on each of `ranges(n, parts, align)`, on rayon's threads when there is more than
/// one range, inline otherwise.
pub(crate) fn for_each_range(
    n: usize,
    parts: usize,
    align: usize,
    f: impl Fn(Range<usize>) + Sync + Send,
) {
    let rs = ranges(n, parts, align);
    if rs.len() <= 1 {
        rs.into_iter().for_each(f);
    } else {
        rs.into_par_iter().for_each(f);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_cover_without_overlap() {
        for (n, parts, align) in [
            (1536, 2, 32),
            (384, 3, 32),
            (10, 4, 16),
            (0, 2, 8),
            (7, 1, 4),
        ] {
            let rs = ranges(n, parts, align);
            assert!(rs.len() <= parts.max(1));
            let mut next = 0;
            for r in &rs {
                assert_eq!(r.start, next);
                assert!(r.start % align == 0 && r.end > r.start);
                next = r.end;
            }
            assert_eq!(next, n);
        }
        assert_eq!(ranges(1536, 2, 32), vec![0..768, 768..1536]);
    }
}
