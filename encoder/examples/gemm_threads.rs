//! How candle's matmul backend (the `gemm` crate) uses threads on the small row counts of one
//! query: `[rows, k] x [k, n]` with the weight stored `[n, k]` as in `nn.Linear` (what candle's
//! `Linear` multiplies) and stored transposed `[k, n]` (what the encoder's CPU forward pass
//! keeps); each on one thread, with gemm's own rayon split, and with the output columns split
//! into one single-threaded gemm per thread (what the encoder does).
//!
//! ```sh
//! cargo run --release --example gemm_threads -p tartan-encoder -- [THREADS] [REPS]
//! ```

use std::time::Instant;

use gemm::Parallelism;

// The encoder's own matmul wrapper and column split, so the figures are of the code it runs.
#[path = "../src/cpu/matmul.rs"]
mod matmul;
#[path = "../src/cpu/parallel.rs"]
mod parallel;

use matmul::{matmul, Rhs};
use parallel::{for_each_range, SharedMut};

/// `dst[m, n] = a[m, k] · w` for `w` the `[k, n]` product operand stored as `layout` says
/// (`Rhs::Transposed`: `[n, k]`, as in `nn.Linear`; `Rhs::Rows`: `[k, n]`), columns `cols` only.
///
/// # Safety
/// `dst` holds `m x n` elements and no other thread writes columns `cols`.
unsafe fn gemm_cols(
    a: &[f32],
    w: &[f32],
    transposed: bool,
    dst: *mut f32,
    (m, n, k): (usize, usize, usize),
    cols: std::ops::Range<usize>,
    par: Parallelism,
) {
    let rhs = if transposed {
        Rhs::Transposed(w.as_ptr().add(cols.start * k), k)
    } else {
        Rhs::Rows(w.as_ptr().add(cols.start), n)
    };
    matmul(
        (m, cols.len(), k),
        (dst.add(cols.start), n),
        (a.as_ptr(), k),
        rhs,
        1.0,
        par,
    )
}

fn median_us(reps: usize, mut f: impl FnMut()) -> f64 {
    for _ in 0..5 {
        f();
    }
    let mut t: Vec<f64> = (0..reps)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[reps / 2]
}

fn main() {
    let mut args = std::env::args().skip(1);
    let threads: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(2);
    let reps: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(200);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("pool");
    println!(
        "| m x k x n | W [n, k]: 1 thread (us) | gemm Rayon({threads}) | column split x{threads} \
         | W [k, n]: 1 thread (us) | gemm Rayon({threads}) | column split x{threads} |"
    );
    println!("|---|---|---|---|---|---|---|");
    for (m, k, n) in [
        (32, 384, 1152),
        (32, 384, 1536),
        (32, 1536, 384),
        (32, 768, 3072),
        (32, 3072, 768),
        (5760, 384, 1536),
    ] {
        let a: Vec<f32> = (0..m * k)
            .map(|i| ((i * 7919) % 1000) as f32 * 1e-3)
            .collect();
        let w: Vec<f32> = (0..n * k)
            .map(|i| ((i * 104729) % 1000) as f32 * 1e-3)
            .collect();
        let mut wt = vec![0f32; n * k];
        for c in 0..n {
            for i in 0..k {
                wt[i * n + c] = w[c * k + i];
            }
        }
        let mut dst = vec![0f32; m * n];
        let d = SharedMut(dst.as_mut_ptr());
        let mut cells = Vec::new();
        for (weight, transposed) in [(&w, true), (&wt, false)] {
            let whole = |par| {
                median_us(reps, || unsafe {
                    gemm_cols(&a, weight, transposed, d.get(), (m, n, k), 0..n, par)
                })
            };
            let one = whole(Parallelism::None);
            let rayon = pool.install(|| whole(Parallelism::Rayon(threads)));
            let split = pool.install(|| {
                median_us(reps, || {
                    for_each_range(n, threads, 16, |cols| unsafe {
                        gemm_cols(
                            &a,
                            weight,
                            transposed,
                            d.get(),
                            (m, n, k),
                            cols,
                            Parallelism::None,
                        )
                    })
                })
            });
            cells.extend([one, rayon, split].map(|us| format!("{us:.0}")));
        }
        println!("| {m} x {k} x {n} | {} |", cells.join(" | "));
    }
}
