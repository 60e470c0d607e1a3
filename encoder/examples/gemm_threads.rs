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

use gemm::{gemm, Parallelism};
use rayon::prelude::*;

#[derive(Clone, Copy)]
struct SendPtr(*mut f32);
// SAFETY: each task writes a disjoint column range of the destination.
unsafe impl Send for SendPtr {}
unsafe impl Sync for SendPtr {}

impl SendPtr {
    fn get(self) -> *mut f32 {
        self.0
    }
}

/// `dst[m, n] = a[m, k] · wᵀ` for `w` `[n, k]`, columns `c0..c1` only.
unsafe fn gemm_cols(
    a: &[f32],
    w: &[f32],
    dst: *mut f32,
    (m, n, k): (usize, usize, usize),
    (c0, c1): (usize, usize),
    par: Parallelism,
) {
    gemm(
        m,
        c1 - c0,
        k,
        dst.add(c0),
        1,
        n as isize,
        false,
        a.as_ptr(),
        1,
        k as isize,
        w.as_ptr().add(c0 * k),
        k as isize,
        1,
        0.0,
        1.0,
        false,
        false,
        false,
        par,
    )
}

/// The same product with the weight stored transposed, `[k, n]` (rows of `n` contiguous).
unsafe fn gemm_cols_t(
    a: &[f32],
    wt: &[f32],
    dst: *mut f32,
    (m, n, k): (usize, usize, usize),
    (c0, c1): (usize, usize),
    par: Parallelism,
) {
    gemm(
        m,
        c1 - c0,
        k,
        dst.add(c0),
        1,
        n as isize,
        false,
        a.as_ptr(),
        1,
        k as isize,
        wt.as_ptr().add(c0),
        1,
        n as isize,
        0.0,
        1.0,
        false,
        false,
        false,
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
        let mut dst = vec![0f32; m * n];
        let one = median_us(reps, || unsafe {
            gemm_cols(
                &a,
                &w,
                dst.as_mut_ptr(),
                (m, n, k),
                (0, n),
                Parallelism::None,
            )
        });
        let rayon = pool.install(|| {
            median_us(reps, || unsafe {
                gemm_cols(
                    &a,
                    &w,
                    dst.as_mut_ptr(),
                    (m, n, k),
                    (0, n),
                    Parallelism::Rayon(threads),
                )
            })
        });
        let split = pool.install(|| {
            let p = SendPtr(dst.as_mut_ptr());
            median_us(reps, || {
                let per = n.div_ceil(threads).next_multiple_of(16);
                (0..threads).into_par_iter().for_each(|t| {
                    let (c0, c1) = ((t * per).min(n), ((t + 1) * per).min(n));
                    if c0 < c1 {
                        unsafe {
                            gemm_cols(&a, &w, p.get(), (m, n, k), (c0, c1), Parallelism::None)
                        }
                    }
                })
            })
        });
        let mut wt = vec![0f32; n * k];
        for c in 0..n {
            for i in 0..k {
                wt[i * n + c] = w[c * k + i];
            }
        }
        let one_t = median_us(reps, || unsafe {
            gemm_cols_t(
                &a,
                &wt,
                dst.as_mut_ptr(),
                (m, n, k),
                (0, n),
                Parallelism::None,
            )
        });
        let rayon_t = pool.install(|| {
            median_us(reps, || unsafe {
                gemm_cols_t(
                    &a,
                    &wt,
                    dst.as_mut_ptr(),
                    (m, n, k),
                    (0, n),
                    Parallelism::Rayon(threads),
                )
            })
        });
        let split_t = pool.install(|| {
            let p = SendPtr(dst.as_mut_ptr());
            median_us(reps, || {
                let per = n.div_ceil(threads).next_multiple_of(16);
                (0..threads).into_par_iter().for_each(|t| {
                    let (c0, c1) = ((t * per).min(n), ((t + 1) * per).min(n));
                    if c0 < c1 {
                        unsafe {
                            gemm_cols_t(&a, &wt, p.get(), (m, n, k), (c0, c1), Parallelism::None)
                        }
                    }
                })
            })
        });
        println!(
            "| {m} x {k} x {n} | {one:.0} | {rayon:.0} | {split:.0} | {one_t:.0} | {rayon_t:.0} | {split_t:.0} |"
        );
    }
}
