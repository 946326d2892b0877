//! Runtime CPU dispatch for the hand-written kernels. Each kernel body is written once, generic over how it
//! multiplies and adds, and compiled three times: for AVX-512 and for AVX2 (both with FMA, `a.mul_add(b, c)`, one
//! rounding) for CPUs that have them, and for the x86-64 baseline (`a * b + c`) otherwise. A machine always takes the
//! same path, so results stay reproducible there; prebuilt binaries still run on any x86-64 CPU.

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

/// Defines `pub fn $name(args) -> ret` that runs `$body::<Fused>` compiled for AVX-512 or AVX2+FMA when the CPU has
/// them, and `$body::<Separate>` otherwise. The AVX-512 build gives the compiler wider registers for the same
/// per-element operations (the bodies' sums have fixed lane counts, whatever the register width).
macro_rules! dispatch {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? => $body:ident) => {
        $(#[$meta])*
        #[allow(clippy::too_many_arguments)]
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx512vl,avx512bw,avx512dq,avx2,fma")]
                #[allow(clippy::too_many_arguments)]
                unsafe fn fast512($($arg: $ty),*) $(-> $ret)? {
                    $body::<$crate::kernels::simd::Fused>($($arg),*)
                }
                #[target_feature(enable = "avx2,fma")]
                #[allow(clippy::too_many_arguments)]
                unsafe fn fast($($arg: $ty),*) $(-> $ret)? {
                    $body::<$crate::kernels::simd::Fused>($($arg),*)
                }
                if $crate::kernels::simd::has_avx512() {
                    // SAFETY: the CPU has these features, checked just above.
                    return unsafe { fast512($($arg),*) };
                }
                if $crate::kernels::simd::has_avx2_fma() {
                    // SAFETY: the CPU has AVX2 and FMA, checked just above.
                    return unsafe { fast($($arg),*) };
                }
            }
            $body::<$crate::kernels::simd::Separate>($($arg),*)
        }
    };
}
pub(crate) use dispatch;
