"""Opening a large index maps it: resident memory grows by far less than its files."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np

import tartan

PROBE = r"""
import json, sys
import numpy as np
import tartan

def status():
    fields = {}
    for line in open("/proc/self/status"):
        key, _, value = line.partition(":")
        if key in ("VmRSS", "RssFile", "RssAnon"):
            fields[key] = int(value.split()[0]) * 1024
    return fields

q = np.load(sys.argv[2])
before = status()
idx = tartan.Index.open(sys.argv[1])
opened = status()
idx.search(q, k=10)
searched = status()
print(json.dumps({"before": before, "opened": opened, "searched": searched, "docs": len(idx)}))
"""


def test_open_does_not_read_the_index(tmp_path):
    rng = np.random.default_rng(1)
    dim, n_docs, per_doc = 128, 4000, 64
    flat = rng.standard_normal((n_docs * per_doc, dim), dtype=np.float32)
    flat /= np.linalg.norm(flat, axis=1, keepdims=True)
    path = tmp_path / "large.idx"
    tartan.Index.build(path, (flat, np.full(n_docs, per_doc)), keep_embeddings=True, num_centroids=256)
    del flat
    files = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    assert files > 130e6  # 256k embeddings kept uncompressed (131 MB) plus the index
    q = tmp_path / "q.npy"
    np.save(q, rng.standard_normal((4, 32, dim), dtype=np.float32))

    out = subprocess.run([sys.executable, "-c", PROBE, str(path), str(q)], check=True, capture_output=True, text=True)
    m = json.loads(out.stdout)
    assert m["docs"] == n_docs
    grew_open = m["opened"]["VmRSS"] - m["before"]["VmRSS"]
    grew_search = m["searched"]["VmRSS"] - m["before"]["VmRSS"]
    print(f"index files {files / 1e6:.1f} MB; resident growth: open {grew_open / 1e6:.1f} MB, after 4 searches {grew_search / 1e6:.1f} MB")
    assert grew_open < 0.1 * files
    assert grew_search < 0.25 * files
