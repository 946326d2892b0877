//! The LSTM's per-step recurrent products for batches above [`SMALL`](super::gemm::SMALL): `C[m×n] (+)= A[m×k]·B[k×n]`
//! where B (W_hhᵀ forward, W_hh backward) is the same matrix at every one of the T steps. matrixmultiply packs B
//! again on every call, about a sixth of an IMDB step; here B is packed once per pass ([`PackedB`]) and an AVX-512
//! microkernel of 8 rows × 32 columns reads the rows of A where they lie. CPUs without AVX-512 keep matrixmultiply
//! ([`available`] says which).
//!
//! Each element of C is one sum over k in order, from zero, then added to C when β = 1: no result depends on how
//! rows are grouped into tiles, so the thread split cannot change a bit.

use super::gemm::Mat;

/// Columns per panel of packed B: two AVX-512 registers.
pub const NR: usize = 32;
/// Rows of A per tile: 8 × 2 accumulators, 16 of the 32 registers.
pub const MR: usize = 8;

/// B `[k, n]` packed into panels of [`NR`] columns: panel p's row kk is `data[(p·k + kk)·NR..][..NR]`, zero-padded
/// past column n. The buffer is kept and reused from call to call.
#[derive(Default)]
pub struct PackedB {
    k: usize,
    n: usize,
    data: Vec<f32>,
}

impl PackedB {
    /// Packs the `k × n` view `b`.
    pub fn pack(&mut self, k: usize, n: usize, b: Mat) {
        assert!(k == 0 || n == 0 || (k - 1) * b.st.rs + (n - 1) * b.st.cs < b.data.len(), "pack: B view exceeds its slice");
        let panels = n.div_ceil(NR);
        self.data.clear();
        self.data.resize(panels * k * NR, 0.0);
        for p in 0..panels {
            let cols = (n - p * NR).min(NR);
            for kk in 0..k {
                let dst = &mut self.data[(p * k + kk) * NR..][..cols];
                for (c, d) in dst.iter_mut().enumerate() {
                    *d = b.data[kk * b.st.rs + (p * NR + c) * b.st.cs];
                }
            }
        }
        self.k = k;
        self.n = n;
    }

    pub fn k(&self) -> usize {
        self.k
    }

    pub fn n(&self) -> usize {
        self.n
    }
}

/// Whether this CPU runs [`gemm_packed`] (AVX-512F; the standard library caches the answer).
#[inline]
pub fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// `C[r, :] = β·C[r, :] + A[r, :]·B` for r < m, with A's rows `lda` apart and C's `ldc` apart; `beta` is 0 or 1.
/// Panics unless [`available`] (callers check it) and the views fit their slices.
pub fn gemm_packed(m: usize, a: &[f32], lda: usize, b: &PackedB, beta: f32, c: &mut [f32], ldc: usize) {
    let (k, n) = (b.k, b.n);
    assert!(available(), "gemm_packed needs AVX-512F");
    assert!(beta == 0.0 || beta == 1.0);
    assert!(m == 0 || k == 0 || (m - 1) * lda + k <= a.len(), "gemm_packed: A view exceeds its slice");
    assert!(m == 0 || n == 0 || (m - 1) * ldc + n <= c.len(), "gemm_packed: C view exceeds its slice");
    if m == 0 || n == 0 {
        return;
    }
    #[cfg(target_arch = "x86_64")]
    // SAFETY: AVX-512F is present (asserted), and the asserts above bound every access.
    unsafe {
        avx512::gemm(m, k, n, a.as_ptr(), lda, b.data.as_ptr(), beta, c.as_mut_ptr(), ldc)
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::{MR, NR};
    use std::arch::x86_64::*;

    #[target_feature(enable = "avx512f")]
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn gemm(m: usize, k: usize, n: usize, a: *const f32, lda: usize, b: *const f32, beta: f32, c: *mut f32, ldc: usize) {
        let mut r = 0;
        while r < m {
            let rows = (m - r).min(MR);
            let (ar, cr) = (a.add(r * lda), c.add(r * ldc));
            for p in 0..n.div_ceil(NR) {
                let cols = (n - p * NR).min(NR);
                let (bp, cp) = (b.add(p * k * NR), cr.add(p * NR));
                // A last panel of at most 16 columns needs only one register per row.
                if cols > 16 {
                    rows_tile::<true>(rows, k, ar, lda, bp, beta, cp, ldc, cols)
                } else {
                    rows_tile::<false>(rows, k, ar, lda, bp, beta, cp, ldc, cols)
                }
            }
            r += rows;
        }
    }

    /// The tile for `rows` (1 to 8) rows: the row count is a compile-time constant of each tile.
    #[target_feature(enable = "avx512f")]
    #[inline]
    #[allow(clippy::too_many_arguments)]
    unsafe fn rows_tile<const WIDE: bool>(rows: usize, k: usize, a: *const f32, lda: usize, b: *const f32, beta: f32, c: *mut f32, ldc: usize, cols: usize) {
        match rows {
            8 => tile::<8, WIDE>(k, a, lda, b, beta, c, ldc, cols),
            7 => tile::<7, WIDE>(k, a, lda, b, beta, c, ldc, cols),
            6 => tile::<6, WIDE>(k, a, lda, b, beta, c, ldc, cols),
            5 => tile::<5, WIDE>(k, a, lda, b, beta, c, ldc, cols),
            4 => tile::<4, WIDE>(k, a, lda, b, beta, c, ldc, cols),
            3 => tile::<3, WIDE>(k, a, lda, b, beta, c, ldc, cols),
            2 => tile::<2, WIDE>(k, a, lda, b, beta, c, ldc, cols),
            _ => tile::<1, WIDE>(k, a, lda, b, beta, c, ldc, cols),
        }
    }

    /// R rows × up to 32 columns (16 unless `WIDE`): `cols` of them are stored, through masks at the right edge.
    #[target_feature(enable = "avx512f")]
    #[inline]
    #[allow(clippy::too_many_arguments)]
    unsafe fn tile<const R: usize, const WIDE: bool>(k: usize, a: *const f32, lda: usize, b: *const f32, beta: f32, c: *mut f32, ldc: usize, cols: usize) {
        let mut lo = [_mm512_setzero_ps(); R];
        let mut hi = [_mm512_setzero_ps(); R];
        for kk in 0..k {
            let b0 = _mm512_loadu_ps(b.add(kk * NR));
            if WIDE {
                let b1 = _mm512_loadu_ps(b.add(kk * NR + 16));
                for r in 0..R {
                    let av = _mm512_set1_ps(*a.add(r * lda + kk));
                    lo[r] = _mm512_fmadd_ps(av, b0, lo[r]);
                    hi[r] = _mm512_fmadd_ps(av, b1, hi[r]);
                }
            } else {
                for r in 0..R {
                    lo[r] = _mm512_fmadd_ps(_mm512_set1_ps(*a.add(r * lda + kk)), b0, lo[r]);
                }
            }
        }
        let mask_lo: __mmask16 = if cols >= 16 { 0xffff } else { ((1u32 << cols) - 1) as u16 };
        let mask_hi: __mmask16 = if cols <= 16 { 0 } else { ((1u32 << (cols - 16)) - 1) as u16 };
        for r in 0..R {
            let cp = c.add(r * ldc);
            let (mut v0, mut v1) = (lo[r], hi[r]);
            if beta != 0.0 {
                v0 = _mm512_add_ps(v0, _mm512_maskz_loadu_ps(mask_lo, cp));
                v1 = _mm512_add_ps(v1, _mm512_maskz_loadu_ps(mask_hi, cp.wrapping_add(16)));
            }
            _mm512_mask_storeu_ps(cp, mask_lo, v0);
            if WIDE {
                _mm512_mask_storeu_ps(cp.wrapping_add(16), mask_hi, v1);
            }
        }
    }
}
