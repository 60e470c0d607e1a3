//! Run-time CPU feature checks for the few loops compiled twice (baseline and
//! AVX2 + FMA); everything else relies on faer's own dispatch.

/// True when the CPU has AVX2 and FMA (the result is cached by the standard library).
#[cfg(target_arch = "x86_64")]
#[inline]
pub(crate) fn has_avx2_fma() -> bool {
    std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
}
