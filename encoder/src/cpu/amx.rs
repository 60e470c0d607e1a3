//! bf16 linear layers on Intel AMX: `tdpbf16ps` multiplies a 16 x 32 bf16 tile of
//! activations by a 32 x 16 bf16 tile of weights into 16 x 16 f32 sums, 8,192 products an
//! instruction (16 times `vdpbf16ps`).
//!
//! The weights are the ones [`super::bf16`] packs: per tile of 16 output columns, pairs of
//! input values side by side, which is exactly the layout ("VNNI pairs") a weight tile is
//! loaded from; 16 pairs (32 inputs) of one tile are one 1 KB weight tile. The activations
//! are the bf16 rows, padded with zero rows to a multiple of 32.
//!
//! Stable Rust has no AMX intrinsics (they are nightly-only), so the few instructions are
//! written with `asm!`. The kernel keeps 2 x 2 accumulator tiles (32 rows x 32 columns)
//! and streams 2 activation and 2 weight tiles per 32 inputs.
//!
//! Linux hands out the AMX register state only on request (`arch_prctl(ARCH_REQ_XCOMP_PERM,
//! XFEATURE_XTILEDATA)`), once a process; [`supported`] makes the request and says no where
//! the CPU lacks AMX-BF16 or the kernel refuses.

/// Rows of activations the kernel reads at a time: activations are padded to a multiple.
pub(crate) const ROW_BLOCK: usize = 32;
/// Output columns the kernel writes at a time: weights must have a multiple.
pub(crate) const COLUMN_BLOCK: usize = 32;
/// Inputs one weight tile covers: `k` must be a multiple.
pub(crate) const DEPTH: usize = 32;

/// Whether this CPU has AMX-TILE and AMX-BF16 and the OS lets this process use them.
pub(crate) fn supported() -> bool {
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    {
        static SUPPORTED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *SUPPORTED.get_or_init(kernel::request)
    }
    #[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
    {
        false
    }
}

/// Whether a `k x n` weight can run on AMX.
pub(crate) fn fits(k: usize, n: usize) -> bool {
    k.is_multiple_of(DEPTH) && n.is_multiple_of(COLUMN_BLOCK) && supported()
}

/// Columns `cols` of `dst` (`rows x n`, row-major) = `x · W` over bf16.
///
/// `x` holds `rows` rounded up to [`ROW_BLOCK`] rows of `k` bf16 values (zeros past `rows`);
/// `w` the packed weight (`n / 16` tiles of `k * 16` values in pairs, as
/// [`super::bf16::Bf16Weight`] keeps it).
///
/// The rows are done a chunk at a time (see `CHUNK_BYTES`); `finish_rows` is called with
/// each chunk's rows once their columns `cols` are written, while they are still in cache
/// (the linear layer adds its bias and activation there).
///
/// # Safety
/// [`supported`] must be true; `k` a multiple of [`DEPTH`]; `cols` a range of whole
/// [`COLUMN_BLOCK`]s inside `0..n`; `dst` must hold `rows * n` values whose columns `cols`
/// no one else touches while this runs.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn matmul_cols(
    w: &[half::bf16],
    x: &[half::bf16],
    k: usize,
    rows: usize,
    dst: *mut f32,
    n: usize,
    cols: std::ops::Range<usize>,
    finish_rows: &mut dyn FnMut(std::ops::Range<usize>),
) {
    debug_assert!(x.len() >= rows.next_multiple_of(ROW_BLOCK) * k);
    debug_assert!(w.len() >= n * k && cols.end <= n);
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    kernel::matmul(w.as_ptr(), x.as_ptr(), k, rows, dst, n, cols, finish_rows);
    #[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
    {
        let _ = finish_rows;
        unreachable!("AMX layers are only built where supported() is true");
    }
}

#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
mod kernel {
    use std::arch::asm;
    use std::ops::Range;

    use half::bf16;

    use super::{DEPTH, ROW_BLOCK};

    /// `arch_prctl` codes from the Linux UAPI (`asm/prctl.h`, `asm/fpu/xstate.h`).
    const ARCH_REQ_XCOMP_PERM: libc::c_ulong = 0x1023;
    const XFEATURE_XTILEDATA: libc::c_ulong = 18;

    /// CPUID says AMX-TILE and AMX-BF16, then the kernel grants the tile state.
    pub(super) fn request() -> bool {
        let max_leaf = std::arch::x86_64::__cpuid(0).eax;
        let edx = if max_leaf >= 7 {
            std::arch::x86_64::__cpuid_count(7, 0).edx
        } else {
            0
        };
        let (amx_bf16, amx_tile) = (edx & (1 << 22) != 0, edx & (1 << 24) != 0);
        if max_leaf < 7 || !amx_bf16 || !amx_tile {
            return false;
        }
        // SAFETY: a plain system call with integer arguments; it changes only which register
        // state this process may use.
        let granted = unsafe {
            libc::syscall(
                libc::SYS_arch_prctl,
                ARCH_REQ_XCOMP_PERM,
                XFEATURE_XTILEDATA,
            )
        };
        granted == 0
    }

    /// The 64-byte tile configuration `ldtilecfg` reads (palette 1).
    #[repr(C, align(64))]
    struct TileConfig {
        palette: u8,
        start_row: u8,
        reserved: [u8; 14],
        bytes_per_row: [u16; 16],
        rows: [u8; 16],
    }

    /// Tiles 0-3 accumulate (16 x 16 f32), 4-5 hold activations (16 x 32 bf16), 6-7 weights
    /// (16 pairs x 16 columns): every tile is 16 rows of 64 bytes.
    const CONFIG: TileConfig = TileConfig {
        palette: 1,
        start_row: 0,
        reserved: [0; 14],
        bytes_per_row: [64, 64, 64, 64, 64, 64, 64, 64, 0, 0, 0, 0, 0, 0, 0, 0],
        rows: [16, 16, 16, 16, 16, 16, 16, 16, 0, 0, 0, 0, 0, 0, 0, 0],
    };

    /// Bytes of activations a row chunk holds: a quarter of a 2 MB L2.
    const CHUNK_BYTES: usize = 512 * 1024;

    /// 16 x 16 f32 staging for a tile whose rows run past the output.
    #[repr(C, align(64))]
    struct Staging([f32; 256]);

    #[allow(clippy::too_many_arguments)]
    pub(super) unsafe fn matmul(
        w: *const bf16,
        x: *const bf16,
        k: usize,
        rows: usize,
        dst: *mut f32,
        n: usize,
        cols: Range<usize>,
        finish_rows: &mut dyn FnMut(Range<usize>),
    ) {
        let x_stride = k * 2;
        let w_stride = 64usize;
        let tile_bytes = 16 * 64;
        let dst_stride = n * 4;
        asm!("ldtilecfg [{}]", in(reg) &CONFIG, options(nostack, readonly));
        let mut staging = Staging([0.0; 256]);
        // Rows a chunk at a time, so that the chunk's activations stay in L2 while every
        // column pair of the share passes over them (each pair's weights, `k` x 64 bytes,
        // stay in L1); streaming all rows for every column pair read them from L3 36 times
        // a MiniLM layer.
        let chunk = (CHUNK_BYTES / x_stride).max(ROW_BLOCK) / ROW_BLOCK * ROW_BLOCK;
        for chunk_start in (0..rows).step_by(chunk) {
            let chunk_end = (chunk_start + chunk).min(rows);
            for c0 in cols.clone().step_by(32) {
                // The two 16-column weight tiles: `k * 16` values each.
                let w0 = w.add(c0 * k) as *const u8;
                let w1 = w.add((c0 + 16) * k) as *const u8;
                for r0 in (chunk_start..chunk_end).step_by(ROW_BLOCK) {
                    let a0 = x.add(r0 * k) as *const u8;
                    let a1 = x.add((r0 + 16) * k) as *const u8;
                    asm!(
                        "tilezero tmm0",
                        "tilezero tmm1",
                        "tilezero tmm2",
                        "tilezero tmm3",
                        options(nostack, nomem)
                    );
                    for d in 0..k / DEPTH {
                        let (a_off, w_off) = (d * 64, d * tile_bytes);
                        asm!(
                            "tileloadd tmm4, [{a0} + {sa}*1]",
                            "tileloadd tmm5, [{a1} + {sa}*1]",
                            "tileloadd tmm6, [{w0} + {sw}*1]",
                            "tileloadd tmm7, [{w1} + {sw}*1]",
                            "tdpbf16ps tmm0, tmm4, tmm6",
                            "tdpbf16ps tmm1, tmm4, tmm7",
                            "tdpbf16ps tmm2, tmm5, tmm6",
                            "tdpbf16ps tmm3, tmm5, tmm7",
                            a0 = in(reg) a0.add(a_off),
                            a1 = in(reg) a1.add(a_off),
                            w0 = in(reg) w0.add(w_off),
                            w1 = in(reg) w1.add(w_off),
                            sa = in(reg) x_stride,
                            sw = in(reg) w_stride,
                            options(nostack, readonly)
                        );
                    }
                    // Tiles 0/1: rows r0.., columns c0 / c0 + 16; tiles 2/3: rows r0 + 16...
                    store::<0>(dst, dst_stride, n, rows, r0, c0, &mut staging);
                    store::<1>(dst, dst_stride, n, rows, r0, c0 + 16, &mut staging);
                    store::<2>(dst, dst_stride, n, rows, r0 + 16, c0, &mut staging);
                    store::<3>(dst, dst_stride, n, rows, r0 + 16, c0 + 16, &mut staging);
                }
            }
            finish_rows(chunk_start..chunk_end);
        }
        asm!("tilerelease", options(nostack, nomem));
    }

    /// Accumulator tile `T` into rows `r..r + 16`, columns `c..c + 16` of `dst`: straight
    /// when all 16 rows exist, through `staging` for the part that does.
    #[inline(always)]
    unsafe fn store<const T: usize>(
        dst: *mut f32,
        dst_stride: usize,
        n: usize,
        rows: usize,
        r: usize,
        c: usize,
        staging: &mut Staging,
    ) {
        if r >= rows {
            return;
        }
        let (target, stride) = if r + 16 <= rows {
            (dst.add(r * n + c), dst_stride)
        } else {
            (staging.0.as_mut_ptr(), 64)
        };
        match T {
            0 => {
                asm!("tilestored [{p} + {s}*1], tmm0", p = in(reg) target, s = in(reg) stride, options(nostack))
            }
            1 => {
                asm!("tilestored [{p} + {s}*1], tmm1", p = in(reg) target, s = in(reg) stride, options(nostack))
            }
            2 => {
                asm!("tilestored [{p} + {s}*1], tmm2", p = in(reg) target, s = in(reg) stride, options(nostack))
            }
            _ => {
                asm!("tilestored [{p} + {s}*1], tmm3", p = in(reg) target, s = in(reg) stride, options(nostack))
            }
        }
        if r + 16 > rows {
            for i in 0..rows - r {
                std::ptr::copy_nonoverlapping(
                    staging.0.as_ptr().add(i * 16),
                    dst.add((r + i) * n + c),
                    16,
                );
            }
        }
    }
}
