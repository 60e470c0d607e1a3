//! Fuzzing the readers of every index file and of `.npy` build input: arbitrary bytes
//! (and valid files with arbitrary damage) must give an error or a value, never a
//! panic. proptest over bounded case counts, so the whole file runs in CI in seconds;
//! each test prints how many inputs it ran. (cargo-fuzz needs a nightly toolchain,
//! which the project does not use.)

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use tartan_engine::format::doc_centroids::{
    DocCentroids, DocCentroidsWriter, MAGIC as DOC_CENTROIDS_MAGIC,
};
use tartan_engine::format::elias_fano;
use tartan_engine::format::manifest::{read_current, Manifest};
use tartan_engine::format::npy::{check_header, parse_header, Dtype, MappedArray};
use tartan_engine::format::table::{write_table, Table};
use tartan_engine::synthetic::{Synthetic, SyntheticConfig};
use tartan_engine::{build_from_npy, BuildConfig, Index, IndexBuilder, NoProgress, SearchParams};

/// A scratch directory under cargo's target tmp dir, emptied first.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("fuzz-readers-{}", std::process::id()))
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `cases` inputs from `strategy` through `check`, reporting the count.
fn fuzz<S: Strategy>(name: &str, cases: u32, strategy: S, mut check: impl FnMut(S::Value))
where
    S::Value: std::fmt::Debug,
{
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let ran = std::cell::Cell::new(0u32);
    let check = std::cell::RefCell::new(&mut check);
    runner
        .run(&strategy, |value| {
            ran.set(ran.get() + 1);
            (check.borrow_mut())(value);
            Ok(())
        })
        .unwrap();
    eprintln!("fuzz {name}: {} inputs, no panic", ran.get());
}

/// Bytes that look like a `.npy` file often enough to reach past the magic: a
/// numpy-shaped header with random descr/shape text, or arbitrary bytes.
fn npy_like() -> impl Strategy<Value = Vec<u8>> {
    let header = (
        prop_oneof![
            Just("<f4".to_string()),
            Just("<i8".to_string()),
            Just("|u1".to_string()),
            Just("|i1".to_string()),
            Just("<u8".to_string()),
            "[<>|=]?[a-z][0-9]{0,2}",
        ],
        prop_oneof![
            Just("False".to_string()),
            Just("True".to_string()),
            "[A-Za-z]{0,6}"
        ],
        prop_oneof![
            proptest::collection::vec(0usize..6, 0..4).prop_map(|s| format!(
                "({})",
                s.iter().map(|d| format!("{d}, ")).collect::<String>()
            )),
            "\\([0-9, L]{0,24}\\)?",
            Just(format!("({}, {})", usize::MAX, usize::MAX)),
        ],
        any::<u8>(),
        proptest::collection::vec(any::<u8>(), 0..96),
    )
        .prop_map(|(descr, fortran, shape, major, data)| {
            let dict =
                format!("{{'descr': '{descr}', 'fortran_order': {fortran}, 'shape': {shape}, }}");
            let mut bytes = b"\x93NUMPY".to_vec();
            bytes.push(major % 4);
            bytes.push(0);
            if major % 4 == 1 {
                bytes.extend_from_slice(&(dict.len() as u16).to_le_bytes());
            } else {
                bytes.extend_from_slice(&(dict.len() as u32).to_le_bytes());
            }
            bytes.extend_from_slice(dict.as_bytes());
            bytes.extend_from_slice(&data);
            bytes
        });
    prop_oneof![
        header,
        proptest::collection::vec(any::<u8>(), 0..160),
        proptest::collection::vec(any::<u8>(), 0..64).prop_map(|mut v| {
            let mut b = b"\x93NUMPY\x01\x00".to_vec();
            b.append(&mut v);
            b
        }),
    ]
}

#[test]
fn npy_header_parser_never_panics() {
    fuzz("npy header", 4096, npy_like(), |bytes| {
        if let Ok(header) = parse_header(&bytes) {
            let _ = header.num_elements();
            let _ = header.data_len();
            for dtype in [Dtype::F32, Dtype::U8, Dtype::I8, Dtype::U64] {
                let _ = check_header(&header, dtype, &[None, Some(3)]);
                let _ = check_header(&header, dtype, &[Some(2)]);
            }
        }
    });
}

#[test]
fn mapped_npy_arrays_never_panic() {
    let dir = scratch("mapped");
    let path = dir.join("a.npy");
    fuzz("mapped npy array", 512, npy_like(), |bytes| {
        std::fs::write(&path, &bytes).unwrap();
        if let Ok(a) = MappedArray::<f32>::open(&path, &[None, None]) {
            let _ = a.as_slice().iter().sum::<f32>();
        }
        if let Ok(a) = MappedArray::<u64>::open(&path, &[None]) {
            let _ = a.as_slice().len();
        }
        if let Ok(a) = MappedArray::<u8>::open(&path, &[Some(2), None]) {
            let _ = a.as_slice().len();
        }
        if let Ok(a) = MappedArray::<i8>::open(&path, &[None, Some(4)]) {
            let _ = a.as_slice().len();
        }
    });
}

#[test]
fn elias_fano_decoder_never_panics() {
    let universes = prop_oneof![Just(0u32), Just(1), Just(2), 1u32..70_000, Just(u32::MAX)];
    fuzz(
        "elias-fano decode (arbitrary bytes)",
        8192,
        (proptest::collection::vec(any::<u8>(), 0..48), universes),
        |(bytes, universe)| {
            let mut out = Vec::new();
            if elias_fano::decode(&bytes, universe, &mut out).is_ok() {
                assert!(out.windows(2).all(|w| w[0] <= w[1]));
                assert!(out.iter().all(|&v| v < universe));
            }
        },
    );
    // Valid records with one byte changed: reach deep into the decoder.
    let records = (1u32..5000)
        .prop_flat_map(|u| (Just(u), proptest::collection::vec(0..u, 0..40)))
        .prop_flat_map(|(u, mut values)| {
            values.sort_unstable();
            let mut bytes = Vec::new();
            elias_fano::encode(&values, u, &mut bytes).unwrap();
            let len = bytes.len();
            (Just(u), Just(bytes), 0..len, any::<u8>())
        });
    fuzz(
        "elias-fano decode (damaged records)",
        4096,
        records,
        |(universe, mut bytes, at, value)| {
            bytes[at] ^= value | 1;
            let mut out = Vec::new();
            let _ = elias_fano::decode(&bytes, universe, &mut out);
        },
    );
}

/// A table file's bytes (the layout of table.rs: magic, version 1, reserved, count,
/// `count + 1` offsets, the records), built in memory so no case waits on a sync.
fn table_bytes(magic: &[u8; 8], records: &[Vec<u8>]) -> Vec<u8> {
    let mut b = magic.to_vec();
    b.extend_from_slice(&1u32.to_le_bytes());
    b.extend_from_slice(&0u32.to_le_bytes());
    b.extend_from_slice(&(records.len() as u64).to_le_bytes());
    let mut offset = 0u64;
    b.extend_from_slice(&offset.to_le_bytes());
    for r in records {
        offset += r.len() as u64;
        b.extend_from_slice(&offset.to_le_bytes());
    }
    records.iter().for_each(|r| b.extend_from_slice(r));
    b
}

#[test]
fn tables_never_panic() {
    let dir = scratch("table");
    let path = dir.join("t.bin");
    let magic = b"TARTNIDS";
    // The in-memory layout is the writer's.
    let sample = vec![b"a".to_vec(), Vec::new(), b"xyz".to_vec()];
    write_table(&path, magic, sample.iter().map(Vec::as_slice)).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), table_bytes(magic, &sample));
    let damaged = (
        proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..6), 0..8),
        any::<prop::sample::Index>(),
        any::<u8>(),
        0usize..10,
    );
    fuzz(
        "table (damaged valid tables)",
        1024,
        damaged,
        |(records, at, value, expected)| {
            let mut bytes = table_bytes(magic, &records);
            let i = at.index(bytes.len());
            bytes[i] ^= value | 1;
            std::fs::write(&path, &bytes).unwrap();
            for n in [records.len(), expected] {
                if let Ok(t) = Table::open(&path, magic, n) {
                    for r in 0..t.len() + 1 {
                        let _ = t.get(r);
                    }
                    let _ = t.blob().len();
                }
            }
        },
    );
    fuzz(
        "table (arbitrary bytes)",
        1024,
        (proptest::collection::vec(any::<u8>(), 0..96), 0usize..6),
        |(mut bytes, n)| {
            if bytes.len() >= 8 && n % 2 == 0 {
                bytes[..8].copy_from_slice(magic);
            }
            std::fs::write(&path, &bytes).unwrap();
            if let Ok(t) = Table::open(&path, magic, n) {
                for r in 0..=n {
                    let _ = t.get(r);
                }
            }
        },
    );
}

/// A `centroid_ids.bin`'s bytes (doc_centroids.rs: magic, version 1, reserved, one
/// Elias-Fano record a document), built in memory.
fn doc_centroid_bytes(k: usize, docs: &[Vec<u32>]) -> Vec<u8> {
    let mut b = DOC_CENTROIDS_MAGIC.to_vec();
    b.extend_from_slice(&1u32.to_le_bytes());
    b.extend_from_slice(&0u32.to_le_bytes());
    for d in docs {
        elias_fano::encode(d, k as u32, &mut b).unwrap();
    }
    b
}

#[test]
fn doc_centroid_ids_never_panic() {
    let dir = scratch("doc-centroids");
    let path = dir.join("centroid_ids.bin");
    // The in-memory layout is the writer's.
    let sample = vec![vec![1, 1, 5], vec![], vec![0, 9]];
    let mut w = DocCentroidsWriter::create(&path, 10).unwrap();
    sample.iter().for_each(|d| w.push(d).unwrap());
    w.finish().unwrap();
    assert_eq!(
        std::fs::read(&path).unwrap(),
        doc_centroid_bytes(10, &sample)
    );
    let docs = (2usize..300).prop_flat_map(|k| {
        (
            Just(k),
            proptest::collection::vec(proptest::collection::vec(0..k as u32, 0..12), 1..8),
            any::<prop::sample::Index>(),
            any::<u8>(),
        )
    });
    fuzz(
        "centroid_ids.bin (damaged valid files)",
        1024,
        docs,
        |(k, mut docs, at, value)| {
            docs.iter_mut().for_each(|d| d.sort_unstable());
            let mut bytes = doc_centroid_bytes(k, &docs);
            let i = at.index(bytes.len());
            bytes[i] ^= value | 1;
            std::fs::write(&path, &bytes).unwrap();
            let mut offsets = vec![0u64];
            for d in &docs {
                offsets.push(offsets.last().unwrap() + d.len() as u64);
            }
            if let Ok(ids) = DocCentroids::open(&path, &offsets, k) {
                let mut out = Vec::new();
                for (d, doc) in docs.iter().enumerate() {
                    let _ = ids.get(d, doc.len(), &mut out);
                }
            }
        },
    );
}

#[test]
fn manifest_never_panics() {
    let dir = scratch("meta");
    // A real manifest, then damaged: a byte changed, cut short, or a value replaced.
    let index = dir.join("index");
    small_index(&index);
    let current = std::fs::read_to_string(index.join("CURRENT")).unwrap();
    let real = std::fs::read_to_string(index.join(current.trim())).unwrap();
    let meta_dir = dir.join("m");
    std::fs::create_dir_all(&meta_dir).unwrap();
    let keys: Vec<String> = serde_json::from_str::<serde_json::Value>(&real)
        .unwrap()
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    let values = prop_oneof![
        Just(serde_json::json!(null)),
        Just(serde_json::json!(-1)),
        Just(serde_json::json!(0)),
        Just(serde_json::json!(u64::MAX)),
        Just(serde_json::json!(1e300)),
        Just(serde_json::json!("x")),
        Just(serde_json::json!([])),
        Just(serde_json::json!({})),
    ];
    let cases = prop_oneof![
        (any::<prop::sample::Index>(), any::<u8>()).prop_map({
            let real = real.clone();
            move |(at, v)| {
                let mut b = real.clone().into_bytes();
                let i = at.index(b.len());
                b[i] = v;
                b
            }
        }),
        any::<prop::sample::Index>().prop_map({
            let real = real.clone();
            move |at| real.as_bytes()[..at.index(real.len())].to_vec()
        }),
        (any::<prop::sample::Index>(), values).prop_map({
            let real = real.clone();
            move |(at, v)| {
                let mut m: serde_json::Value = serde_json::from_str(&real).unwrap();
                let key = &keys[at.index(keys.len())];
                m[key] = v;
                serde_json::to_vec(&m).unwrap()
            }
        }),
        proptest::collection::vec(any::<u8>(), 0..64),
    ];
    fuzz("manifest", 1024, cases, |bytes| {
        let path = meta_dir.join("manifest-000001.json");
        let _ = Manifest::parse(&path, &bytes);
        // Through CURRENT too, as Index::open reads it.
        std::fs::write(&path, &bytes).unwrap();
        std::fs::write(meta_dir.join("CURRENT"), "manifest-000001.json\n").unwrap();
        let _ = read_current(&meta_dir);
    });
}

/// A 40-document index (dim 16, kept embeddings) built once per process.
fn small_index(dir: &Path) {
    let synthetic = Synthetic::new(SyntheticConfig::small());
    let config = BuildConfig {
        num_centroids: Some(16),
        keep_embeddings: true,
        ..BuildConfig::default()
    };
    let mut builder = IndexBuilder::new(dir, 16, config).unwrap();
    let mut doc = Vec::new();
    for d in 0..synthetic.num_documents() {
        synthetic.document(d, &mut doc);
        builder.add_document(&synthetic.doc_id(d), &doc).unwrap();
    }
    builder.finish(&NoProgress).unwrap();
}

/// Every file of the directory tree under `dir`, relative to it, sorted.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                out.push(path.strip_prefix(root).unwrap().to_path_buf());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

fn copy_tree(from: &Path, to: &Path) {
    for rel in files_under(from) {
        let target = to.join(&rel);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(from.join(&rel), target).unwrap();
    }
}

#[test]
fn a_whole_index_with_damage_never_panics() {
    static PRISTINE: OnceLock<PathBuf> = OnceLock::new();
    let pristine = PRISTINE.get_or_init(|| {
        let dir = scratch("whole").join("pristine");
        small_index(&dir);
        dir
    });
    let files = files_under(pristine);
    assert!(files.len() >= 5, "{files:?}");
    let work = scratch("whole-work");
    let queries: Vec<Vec<f32>> = (0..3)
        .map(|q| {
            let mut v: Vec<f32> = (0..4 * 16)
                .map(|i| ((i * 7 + q * 3) % 11) as f32 - 5.0)
                .collect();
            for t in v.chunks_mut(16) {
                let n = t.iter().map(|x| x * x).sum::<f32>().sqrt();
                t.iter_mut().for_each(|x| *x /= n);
            }
            v
        })
        .collect();
    let damage = (
        0..files.len(),
        proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        any::<bool>(),
        any::<prop::sample::Index>(),
    );
    let mut opened = 0usize;
    fuzz(
        "whole index (damaged file: open, search, exact, exhaustive)",
        384,
        damage,
        |(file, flips, truncate, cut)| {
            let dir = work.join("index");
            let _ = std::fs::remove_dir_all(&dir);
            copy_tree(pristine, &dir);
            let path = dir.join(&files[file]);
            let mut bytes = std::fs::read(&path).unwrap();
            if truncate && !bytes.is_empty() {
                bytes.truncate(cut.index(bytes.len()));
            } else if !bytes.is_empty() {
                for (at, v) in &flips {
                    let i = at.index(bytes.len());
                    bytes[i] ^= v | 1;
                }
            }
            std::fs::write(&path, &bytes).unwrap();
            if let Ok(index) = Index::open(&dir) {
                opened += 1;
                for q in &queries {
                    let _ = index.search(q, &SearchParams::for_k(5));
                    let _ = index.search_exact(q, 5);
                    let _ = index.search_exhaustive(q, 5);
                }
                for d in 0..index.num_documents() {
                    let _ = index.doc_id(d as u32);
                }
            }
        },
    );
    eprintln!("  ({opened} damaged indexes still opened; none panicked)");
}

#[test]
fn npy_build_input_never_panics() {
    let dir = scratch("npy-input");
    let (e, l) = (dir.join("E.npy"), dir.join("L.npy"));
    let out = dir.join("index");
    // Valid small inputs, then the lengths or embeddings replaced by fuzzed bytes.
    let rows = 24usize;
    let dim = 8usize;
    let x = 1.0 / (dim as f32).sqrt();
    let embeddings: Vec<u8> = std::iter::repeat_n(x, rows * dim)
        .flat_map(f32::to_le_bytes)
        .collect();
    let npy = |descr: &str, shape: &str, data: &[u8]| {
        let dict = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
        let mut h = dict.into_bytes();
        while (10 + h.len() + 1) % 64 != 0 {
            h.push(b' ');
        }
        h.push(b'\n');
        let mut b = b"\x93NUMPY\x01\x00".to_vec();
        b.extend_from_slice(&(h.len() as u16).to_le_bytes());
        b.extend_from_slice(&h);
        b.extend_from_slice(data);
        b
    };
    let good_e = npy("<f4", &format!("({rows}, {dim})"), &embeddings);
    let lengths: Vec<u8> = [6i64, 6, 6, 6]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let good_l = npy("<i8", "(4,)", &lengths);
    let which = prop_oneof![Just(0u8), Just(1u8)];
    let cases = (
        which,
        npy_like(),
        any::<prop::sample::Index>(),
        any::<u8>(),
        any::<bool>(),
    );
    fuzz(
        "build_from_npy input",
        128,
        cases,
        |(which, fuzzed, at, v, damage_good)| {
            let (mut e_bytes, mut l_bytes) = (good_e.clone(), good_l.clone());
            let target = if which == 0 {
                &mut e_bytes
            } else {
                &mut l_bytes
            };
            if damage_good {
                let i = at.index(target.len());
                target[i] ^= v | 1;
            } else {
                *target = fuzzed;
            }
            std::fs::write(&e, &e_bytes).unwrap();
            std::fs::write(&l, &l_bytes).unwrap();
            let config = BuildConfig {
                overwrite: true,
                num_centroids: Some(4),
                ..BuildConfig::default()
            };
            let _ = build_from_npy(&e, &l, None, &out, config, &NoProgress);
        },
    );
}
