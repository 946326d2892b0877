//! Runtime CPU dispatch for the hand-written kernels, and the SIMD level they run at.
//!
//! Each kernel body is written once, generic over how it multiplies and adds, and compiled three times: for
//! AVX-512 and for AVX2 (both with FMA, `a.mul_add(b, c)`, one rounding), and for the target's baseline (`a * b + c`;
//! SSE2 on x86-64, NEON on aarch64, with no explicit SIMD beyond what the compiler vectorises). A few kernels also
//! have an AVX-512 version written with intrinsics. Which one runs is the [`SimdLevel`] of [`active`]: the best this
//! CPU has, or the cap set by the environment variable [`SIMD_ENV`] (`LSTM_NATIVE_SIMD=scalar|avx2|avx512`), read
//! once per process. A machine always takes the same path at one level, so results stay reproducible there;
//! prebuilt binaries still run on any x86-64 CPU.
//!
//! Which kernels exist at which level:
//!
//! | kernel                                   | avx512                       | avx2                  | scalar              |
//! |------------------------------------------|------------------------------|-----------------------|---------------------|
//! | `packed` (the recurrent batch products)  | intrinsics                   | intrinsics, AVX2+FMA  | — (general GEMM)    |
//! | `gemm::gemm`, `par_gemm` (general GEMM)  | matrixmultiply               | matrixmultiply        | portable GEMM (x86) |
//! | `small` (batch-1…4 and rank-k products)  | intrinsics (`A·Wᵀ`), body    | body, AVX2+FMA        | body, baseline      |
//! | `act` LSTM cell forward/backward         | intrinsics                   | body, AVX2+FMA        | body, baseline      |
//! | optimizer updates (`optim`)              | body, AVX-512+FMA            | body, AVX2+FMA        | body, baseline      |
//!
//! matrixmultiply (0.3.11) picks its own kernel at run time from the CPU's features alone (AVX-512F with its default
//! `avx512` feature, else FMA+AVX2, else AVX, else a portable one); it has no run-time cap (its `MMTEST_FEATURE` is
//! read at compile time and is for its own tests). So at `avx2` on an AVX-512 CPU the general products still run
//! matrixmultiply's AVX-512 kernel; at `scalar` on x86-64 every product goes through [`super::gemm`]'s portable Rust
//! loops instead, so no instruction beyond the baseline (SSE2) runs. On aarch64, where `scalar` is the only level,
//! products keep matrixmultiply's NEON kernel: NEON is the aarch64 baseline.

use crate::error::{LstmError, Result};
use std::sync::OnceLock;

/// The environment variable that caps the SIMD level.
pub const SIMD_ENV: &str = "LSTM_NATIVE_SIMD";

/// A dispatch level of the kernels, lowest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SimdLevel {
    /// The target's baseline instructions only: the portable path every CPU runs (and the only one on ARM).
    Scalar,
    /// AVX2 with FMA.
    Avx2,
    /// AVX-512 F, VL, BW and DQ, with AVX2 and FMA.
    Avx512,
}

impl SimdLevel {
    /// Every level, lowest first.
    pub const ALL: [SimdLevel; 3] = [SimdLevel::Scalar, SimdLevel::Avx2, SimdLevel::Avx512];

    /// The level's name, as [`SIMD_ENV`] spells it.
    pub fn name(self) -> &'static str {
        match self {
            SimdLevel::Scalar => "scalar",
            SimdLevel::Avx2 => "avx2",
            SimdLevel::Avx512 => "avx512",
        }
    }

    /// The level named `name` (`scalar`, `avx2` or `avx512`, any case).
    pub fn from_name(name: &str) -> Option<SimdLevel> {
        SimdLevel::ALL.into_iter().find(|l| l.name().eq_ignore_ascii_case(name.trim()))
    }
}

impl std::fmt::Display for SimdLevel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The best level this CPU runs (the standard library caches the feature tests).
pub fn detected() -> SimdLevel {
    if has_avx512() {
        SimdLevel::Avx512
    } else if has_avx2_fma() {
        SimdLevel::Avx2
    } else {
        SimdLevel::Scalar
    }
}

/// The levels this CPU runs, lowest first.
pub fn supported() -> Vec<SimdLevel> {
    SimdLevel::ALL.into_iter().filter(|&l| l <= detected()).collect()
}

/// The level that [`SIMD_ENV`], if set, asks for: `Err` with a message naming the variable and its value when it
/// names no level or one this CPU lacks.
pub fn level_from(value: Option<&str>) -> std::result::Result<SimdLevel, String> {
    let best = detected();
    let Some(value) = value.filter(|v| !v.trim().is_empty()) else {
        return Ok(best);
    };
    let names = || supported().iter().map(|l| l.name()).collect::<Vec<_>>().join(", ");
    match SimdLevel::from_name(value) {
        None => Err(format!("{SIMD_ENV}={value:?} is not a SIMD level: expected scalar, avx2 or avx512 (this CPU runs {})", names())),
        Some(l) if l > best => Err(format!("{SIMD_ENV}={value:?}: this CPU does not support {l} (it runs {})", names())),
        Some(l) => Ok(l),
    }
}

/// The environment's answer, read once per process.
fn configured() -> &'static std::result::Result<SimdLevel, String> {
    static LEVEL: OnceLock<std::result::Result<SimdLevel, String>> = OnceLock::new();
    LEVEL.get_or_init(|| {
        let value = std::env::var_os(SIMD_ENV).map(|v| v.to_string_lossy().into_owned());
        level_from(value.as_deref())
    })
}

/// The level the kernels run at, or an `INVALID_CONFIG` error when [`SIMD_ENV`] names an unknown level or one
/// this CPU lacks. Models check it when they are built, so a bad setting fails there, with this error.
pub fn level() -> Result<SimdLevel> {
    configured().clone().map_err(LstmError::InvalidConfig)
}

/// The level every kernel dispatches on: [`level`], or [`SimdLevel::Scalar`] while [`SIMD_ENV`] is invalid (a model
/// is never built then; a kernel called directly takes the portable path). Never above [`detected`], which is what
/// makes the feature-gated calls below sound.
#[inline]
pub fn active() -> SimdLevel {
    match configured() {
        Ok(l) => *l,
        Err(_) => SimdLevel::Scalar,
    }
}

/// What the core runs on: the SIMD level, and the threads a model uses by default (one per core).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backend {
    pub simd: SimdLevel,
    pub threads: usize,
}

/// The SIMD level the kernels run at and the default thread count; an `INVALID_CONFIG` error as [`level`] gives.
pub fn backend() -> Result<Backend> {
    Ok(Backend { simd: level()?, threads: default_threads() })
}

/// The threads a model uses when asked for 0: one per core the process may use.
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

/// How a kernel body multiplies and adds.
pub trait MulAdd: Copy {
    fn mul_add(a: f32, b: f32, c: f32) -> f32;
}

/// Fused multiply-add: only used inside functions compiled with the `fma` target feature.
#[derive(Clone, Copy)]
pub struct Fused;
/// A multiply then an add.
#[derive(Clone, Copy)]
pub struct Separate;

impl MulAdd for Fused {
    #[inline(always)]
    fn mul_add(a: f32, b: f32, c: f32) -> f32 {
        a.mul_add(b, c)
    }
}
impl MulAdd for Separate {
    #[inline(always)]
    fn mul_add(a: f32, b: f32, c: f32) -> f32 {
        a * b + c
    }
}

/// Whether this CPU has AVX2 and FMA (the standard library caches the answer).
#[inline]
pub fn has_avx2_fma() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Whether this CPU has AVX-512 F/VL/BW/DQ besides AVX2 and FMA (the standard library caches the answer).
#[inline]
pub fn has_avx512() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        has_avx2_fma()
            && std::is_x86_feature_detected!("avx512f")
            && std::is_x86_feature_detected!("avx512vl")
            && std::is_x86_feature_detected!("avx512bw")
            && std::is_x86_feature_detected!("avx512dq")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Defines `fn $name(args) -> ret` that runs `$body::<Fused>` compiled for AVX-512 or for AVX2+FMA when the
/// [`active`] level is that, and `$body::<Separate>` (baseline) otherwise. The AVX-512 build gives the compiler
/// wider registers for the same per-element operations (the bodies' sums have fixed lane counts, whatever the
/// register width). `unsafe fn` bodies give an `unsafe fn` with the body's safety contract.
macro_rules! dispatch {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? => $body:ident) => {
        $(#[$meta])*
        #[allow(clippy::too_many_arguments, unused_unsafe)]
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            // SAFETY: the body is a safe function; the builds for a CPU feature run only where it is present.
            unsafe { $crate::kernels::simd::dispatch!(@call $body($($arg: $ty),*) $(-> $ret)?) }
        }
    };
    ($(#[$meta:meta])* $vis:vis unsafe fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? => $body:ident) => {
        $(#[$meta])*
        #[allow(clippy::too_many_arguments, unused_unsafe)]
        $vis unsafe fn $name($($arg: $ty),*) $(-> $ret)? {
            // SAFETY: the caller keeps the body's contract, stated on this function.
            unsafe { $crate::kernels::simd::dispatch!(@call $body($($arg: $ty),*) $(-> $ret)?) }
        }
    };
    (@call $body:ident($($arg:ident: $ty:ty),*) $(-> $ret:ty)?) => {{
        #[cfg(target_arch = "x86_64")]
        {
            #[target_feature(enable = "avx512f,avx512vl,avx512bw,avx512dq,avx2,fma")]
            #[allow(clippy::too_many_arguments, unused_unsafe)]
            unsafe fn fast512($($arg: $ty),*) $(-> $ret)? {
                unsafe { $body::<$crate::kernels::simd::Fused>($($arg),*) }
            }
            #[target_feature(enable = "avx2,fma")]
            #[allow(clippy::too_many_arguments, unused_unsafe)]
            unsafe fn fast($($arg: $ty),*) $(-> $ret)? {
                unsafe { $body::<$crate::kernels::simd::Fused>($($arg),*) }
            }
            // `active` is never above what the CPU has, so the features each build needs are present.
            match $crate::kernels::simd::active() {
                $crate::kernels::simd::SimdLevel::Avx512 => fast512($($arg),*),
                $crate::kernels::simd::SimdLevel::Avx2 => fast($($arg),*),
                $crate::kernels::simd::SimdLevel::Scalar => $body::<$crate::kernels::simd::Separate>($($arg),*),
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            $body::<$crate::kernels::simd::Separate>($($arg),*)
        }
    }};
}
pub(crate) use dispatch;
