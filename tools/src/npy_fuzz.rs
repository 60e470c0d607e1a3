//! Fuzzing the `.npy` reader: arbitrary bytes, numpy-shaped headers with random
//! fields, and valid files with damage must give an error or an array, never a panic.
//! Each test prints how many inputs it ran.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use super::{read_f32, read_i64, write};

/// Bytes shaped like a `.npy` file often enough to get past the magic.
fn npy_like() -> impl Strategy<Value = Vec<u8>> {
    let header = (
        prop_oneof![
            Just("<f4".to_string()),
            Just("<f8".to_string()),
            Just("<i8".to_string()),
            Just(">f4".to_string()),
            "[<>|=]?[a-z][0-9]{0,2}",
        ],
        prop_oneof![Just("False".to_string()), "[A-Za-z]{0,6}"],
        prop_oneof![
            proptest::collection::vec(0usize..5, 0..4).prop_map(|s| format!(
                "({})",
                s.iter().map(|d| format!("{d}, ")).collect::<String>()
            )),
            "\\([0-9, L]{0,24}\\)?",
            Just(format!("({}, {})", usize::MAX, usize::MAX)),
            Just(format!("({}, 0)", usize::MAX)),
        ],
        0u8..4,
        proptest::collection::vec(any::<u8>(), 0..96),
    )
        .prop_map(|(descr, fortran, shape, major, data)| {
            let dict =
                format!("{{'descr': '{descr}', 'fortran_order': {fortran}, 'shape': {shape}, }}");
            let mut bytes = b"\x93NUMPY".to_vec();
            bytes.extend_from_slice(&[major, 0]);
            if major == 1 {
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
        proptest::collection::vec(any::<u8>(), 0..128),
        proptest::collection::vec(any::<u8>(), 0..32).prop_map(|mut v| {
            let mut b = b"\x93NUMPY\x01\x00".to_vec();
            b.append(&mut v);
            b
        }),
    ]
}

fn run(name: &str, cases: u32, strategy: impl Strategy<Value = Vec<u8>>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.npy");
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let ran = std::cell::Cell::new(0u32);
    runner
        .run(&strategy, |bytes| {
            ran.set(ran.get() + 1);
            std::fs::write(&path, &bytes).unwrap();
            if let Ok(a) = read_f32(&path) {
                assert_eq!(a.shape.iter().product::<usize>(), a.data.len());
            }
            if let Ok(a) = read_i64(&path) {
                assert_eq!(a.shape.iter().product::<usize>(), a.data.len());
            }
            Ok(())
        })
        .unwrap();
    eprintln!("fuzz {name}: {} inputs, no panic", ran.get());
}

#[test]
fn reader_never_panics_on_arbitrary_bytes() {
    run("tools npy reader (arbitrary)", 4096, npy_like());
}

#[test]
fn reader_never_panics_on_damaged_files() {
    let dir = tempfile::tempdir().unwrap();
    let good_f32 = dir.path().join("f.npy");
    write(&good_f32, &[3, 4], &[0.5f32; 12]).unwrap();
    let good_i64 = dir.path().join("i.npy");
    write(&good_i64, &[5], &[1i64, 2, 3, 4, 5]).unwrap();
    let files = [
        std::fs::read(good_f32).unwrap(),
        std::fs::read(good_i64).unwrap(),
    ];
    let damaged = (
        0usize..2,
        proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        prop::option::of(any::<prop::sample::Index>()),
    )
        .prop_map(move |(which, flips, cut)| {
            let mut bytes = files[which].clone();
            for (at, v) in flips {
                let i = at.index(bytes.len());
                bytes[i] ^= v | 1;
            }
            if let Some(cut) = cut {
                bytes.truncate(cut.index(bytes.len()));
            }
            bytes
        });
    run("tools npy reader (damaged valid files)", 2048, damaged);
}
