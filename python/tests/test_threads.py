"""One Index searched from 8 Python threads at once gives what one thread gets."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np


def test_eight_threads_agree_with_one(small):
    queries = small.queries
    want_one = [small.index.search(q[None], k=10) for q in queries]
    want_batch = small.index.search(queries, k=10)

    def work(t):
        out = []
        for r in range(3):
            i = (t * 5 + r * 7) % len(queries)
            out.append((i, small.index.search(queries[i][None], k=10)))
        out.append((-1, small.index.search(queries, k=10)))
        out.append((-2, small.index.search(queries[:4], k=10, exact=True)))
        return out

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(work, range(8)))
    exact = small.index.search(queries[:4], k=10, exact=True)
    checked = 0
    for per_thread in results:
        for i, res in per_thread:
            want = {-1: want_batch, -2: exact}.get(i) or want_one[i]
            assert res.ids == want.ids
            np.testing.assert_array_equal(res.scores, want.scores)
            checked += 1
    assert checked == 8 * 5
    for i, one in enumerate(want_one):
        assert one.ids[0] == want_batch.ids[i]
