//! The LSTM's products for batches above [`SMALL`](super::gemm::SMALL), `C[m×n] (+)= A[m×k]·B[k×n]`, where B is
//! the same matrix at every one of the T steps: W_hhᵀ and W_ihᵀ forward, `[W_hh W_ih]` backward (dh and dx from one
//! pass over each step's dgates). matrixmultiply packs B again on every call, about a sixth of an IMDB step; here B
//! is packed once per pass ([`PackedB`]) and a microkernel reads the rows of A where they lie: 8 rows × 32 columns
//! at the `avx512` SIMD level, 6 rows × 16 columns (half a panel at a time) at `avx2`, where 16 registers of 8 floats
//! hold 12 sums. The weight gradients use the same kernel with A read transposed ([`gemm_packed_at`]): dgatesᵀ
//! against `[x h 1]` packed a block of rows at a time. At the `scalar` level the recurrent layers keep the general
//! products ([`available`] says which). The same packed B serves the GRU's and SimpleRNN's products
//! (`layers::recurrent`).
//!
//! Each element of C is one sum over k in order, from zero, then added to its addend (C itself when β = 1, or a
//! bias row): no result depends on how rows are grouped into tiles, so the thread split cannot change a bit.

use super::gemm::Mat;

/// Columns per panel of packed B: two AVX-512 registers (four AVX2 ones).
pub const NR: usize = 32;
/// Rows of A per AVX-512 tile: 8 × 2 accumulators, 16 of the 32 registers. Callers split rows between threads in
/// multiples of it so that those tiles stay whole (the AVX2 tile has 6 rows; no result depends on the tiling).
pub const MR: usize = 8;

/// B `[k, n]` packed into panels of [`NR`] columns: panel p's row kk is `data[(p·k + kk)·NR..][..NR]`, zero-padded
/// past column n. The buffer is kept and reused from call to call.
#[derive(Default)]
pub struct PackedB {
    k: usize,
    n: usize,
    data: Vec<f32>,
    /// Where the panels start in `data`: the first 64-byte boundary, so no load of a panel row splits a cache line.
    start: usize,
}

impl PackedB {
    /// Packs the `k × n` view `b`.
    pub fn pack(&mut self, k: usize, n: usize, b: Mat) {
        self.pack_side_by_side(k, &[(n, b)]);
    }

    /// Packs the views `parts[j] = (n_j, B_j)`, each `k × n_j`, side by side as one `k × Σn_j` matrix `[B_0 B_1 …]`:
    /// one product then gives `A·B_0`, `A·B_1`, … in adjacent columns of C from a single pass over A.
    pub fn pack_side_by_side(&mut self, k: usize, parts: &[(usize, Mat)]) {
        self.pack_rows(0..k, parts)
    }

    /// [`pack_side_by_side`](Self::pack_side_by_side) of rows `rows` of the views only (a block of a long product).
    pub fn pack_rows(&mut self, rows: std::ops::Range<usize>, parts: &[(usize, Mat)]) {
        let (k0, k) = (rows.start, rows.len());
        for &(n, b) in parts {
            assert!(k == 0 || n == 0 || (rows.end - 1) * b.st.rs + (n - 1) * b.st.cs < b.data.len(), "pack: B view exceeds its slice");
        }
        let n: usize = parts.iter().map(|&(n, _)| n).sum();
        let panels = n.div_ceil(NR);
        self.data.clear();
        self.data.resize(panels * k * NR + ALIGN_SLACK, 0.0);
        self.start = self.data.as_ptr().align_offset(64).min(ALIGN_SLACK);
        let data = &mut self.data[self.start..];
        // Row by row: each source row is read once, in order, and lands in runs of up to NR floats per panel.
        for kk in 0..k {
            let mut col = 0;
            for &(nj, b) in parts {
                let src = (k0 + kk) * b.st.rs;
                let mut c = 0;
                while c < nj {
                    let (p, lane) = ((col + c) / NR, (col + c) % NR);
                    let run = (NR - lane).min(nj - c);
                    let dst = &mut data[(p * k + kk) * NR + lane..][..run];
                    if b.st.cs == 1 {
                        copy_run(dst, &b.data[src + c..][..run]);
                    } else {
                        for (x, d) in dst.iter_mut().enumerate() {
                            *d = b.data[src + (c + x) * b.st.cs];
                        }
                    }
                    c += run;
                }
                col += nj;
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

/// `dst = src` for a run of at most [`NR`] floats, in moves of 8, 4 or single floats (the last move of 8 or 4 may
/// overlap the one before it). `copy_from_slice` calls the C library's memmove for a length unknown at compile time,
/// which at these lengths costs more than the copy: the weight gradients pack a few runs per row of B·T rows per
/// batch (`layers::lstm`), and those calls were a tenth of an IMDB training step.
#[inline(always)]
fn copy_run(dst: &mut [f32], src: &[f32]) {
    let n = src.len();
    assert!(dst.len() == n, "copy_run: lengths differ");
    /// Moves the `W` floats from `j`: a fixed length, which the compiler turns into register moves.
    #[inline(always)]
    fn moves<const W: usize>(dst: &mut [f32], src: &[f32], j: usize) {
        let s: [f32; W] = src[j..j + W].try_into().expect("W floats");
        dst[j..j + W].copy_from_slice(&s);
    }
    if n >= 8 {
        for j in (0..n - 8).step_by(8) {
            moves::<8>(dst, src, j);
        }
        moves::<8>(dst, src, n - 8);
    } else if n >= 4 {
        moves::<4>(dst, src, 0);
        moves::<4>(dst, src, n - 4);
    } else {
        // At most 3 floats, one by one (a loop here would become a memmove call again).
        if n > 0 {
            dst[0] = src[0];
        }
        if n > 1 {
            dst[1] = src[1];
        }
        if n > 2 {
            dst[2] = src[2];
        }
    }
}

/// Whether [`gemm_packed`] runs: at the `avx2` and `avx512` SIMD levels ([`super::simd::active`]), which only a CPU
/// with AVX2 and FMA reaches (x86-64 only).
#[inline]
pub fn available() -> bool {
    cfg!(target_arch = "x86_64") && super::simd::active() >= super::simd::SimdLevel::Avx2
}

/// `C[r, :] = β·C[r, :] + A[r, :]·B` for r < m, with A's rows `lda` apart and C's `ldc` apart; `beta` is 0 or 1.
/// Panics unless [`available`] (callers check it) and the views fit their slices.
pub fn gemm_packed(m: usize, a: &[f32], lda: usize, b: &PackedB, beta: f32, c: &mut [f32], ldc: usize) {
    gemm_packed_batch(1, m, a, 0, lda, b, beta, c, 0, ldc)
}

/// [`gemm_packed`] for `count` row groups at once: group j's A starts `j·a_step` into `a` and its C `j·c_step` into
/// `c` (the windows of steps of several samples, say). Panics unless [`available`] and every view fits its slice.
#[allow(clippy::too_many_arguments)]
pub fn gemm_packed_batch(count: usize, m: usize, a: &[f32], a_step: usize, lda: usize, b: &PackedB, beta: f32, c: &mut [f32], c_step: usize, ldc: usize) {
    batch(count, m, a, a_step, (lda, 1), b, Addend::of_beta(beta), c, c_step, ldc)
}

/// [`gemm_packed_batch`] with `C = bias + A·B`: each row of C starts from `bias` `[n]` (the gates' biases, added in
/// the order `bias + Σ` that a copy of the bias followed by β = 1 gives, without writing and re-reading C).
#[allow(clippy::too_many_arguments)]
pub fn gemm_packed_batch_bias(
    count: usize,
    m: usize,
    a: &[f32],
    a_step: usize,
    lda: usize,
    b: &PackedB,
    bias: &[f32],
    c: &mut [f32],
    c_step: usize,
    ldc: usize,
) {
    assert!(bias.len() >= b.n, "gemm_packed: bias shorter than B's columns");
    batch(count, m, a, a_step, (lda, 1), b, Addend::Row(bias.as_ptr()), c, c_step, ldc)
}

/// What each element of C adds to its sum.
#[derive(Clone, Copy)]
enum Addend {
    Nothing,
    /// C's own value (β = 1).
    C,
    /// A row of n values, the same for every row of C.
    Row(*const f32),
}

impl Addend {
    /// β = 0 or β = 1.
    fn of_beta(beta: f32) -> Addend {
        assert!(beta == 0.0 || beta == 1.0, "gemm_packed: beta must be 0 or 1, got {beta}");
        if beta == 0.0 {
            Addend::Nothing
        } else {
            Addend::C
        }
    }
}

/// The one entry to the kernel: `count` groups of m rows, A[r, kk] of group j at `a[j·a_step + r·rs + kk·ks]`.
#[allow(clippy::too_many_arguments)]
fn batch(count: usize, m: usize, a: &[f32], a_step: usize, (rs, ks): (usize, usize), b: &PackedB, addend: Addend, c: &mut [f32], c_step: usize, ldc: usize) {
    let (k, n) = (b.k, b.n);
    assert!(available(), "gemm_packed needs AVX2 and FMA");
    if count == 0 || m == 0 || n == 0 {
        return;
    }
    assert!(k == 0 || (count - 1) * a_step + (m - 1) * rs + (k - 1) * ks < a.len(), "gemm_packed: A view exceeds its slice");
    assert!((count - 1) * c_step + (m - 1) * ldc + n <= c.len(), "gemm_packed: C view exceeds its slice");
    #[cfg(target_arch = "x86_64")]
    {
        let args = (count, m, k, n, a.as_ptr(), a_step, (rs, ks), b.data[b.start..].as_ptr(), addend, c.as_mut_ptr(), c_step, ldc);
        // SAFETY: the level's features are present (`active` never exceeds the CPU's), and the asserts above bound
        // every access (a bias row, by its caller).
        unsafe {
            if super::simd::active() == super::simd::SimdLevel::Avx512 {
                x86::gemm::<x86::Avx512>(args)
            } else {
                x86::gemm::<x86::Avx2>(args)
            }
        }
    }
}

/// `C[r, :] = β·C[r, :] + Σ_kk A[kk, r]·B[kk, :]` for r < m: the product with Aᵀ, where A `[k, m]` has rows `lda`
/// apart, read where it lies (the weight gradients' `dgatesᵀ·X`, a column block of dgates at a time).
pub fn gemm_packed_at(m: usize, a: &[f32], lda: usize, b: &PackedB, beta: f32, c: &mut [f32], ldc: usize) {
    batch(1, m, a, 0, (1, lda), b, Addend::of_beta(beta), c, 0, ldc)
}

/// Floats allocated past the panels so that they can start on a 64-byte boundary.
const ALIGN_SLACK: usize = 16;

/// Rows of A run against one panel of B before the next panel: up to 32 rows of A and the panel (k·32 floats) stay
/// in L1 together when k ≈ 100, where a whole row tile per pass over all panels streamed B from L2.
const ROW_BLOCK: usize = 32;

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{Addend, MR, NR, ROW_BLOCK};
    use std::arch::x86_64::*;

    /// The arguments of [`gemm`]: count, m, k, n, A, a_step, A's (row, column) strides, packed B, the addend, C,
    /// c_step, ldc.
    pub type Args = (usize, usize, usize, usize, *const f32, usize, (usize, usize), *const f32, Addend, *mut f32, usize, usize);

    /// A microkernel: up to `MR` rows of C against one panel of B.
    pub trait Micro {
        /// Rows per tile.
        const MR: usize;

        /// `rows` (1 to MR) rows of C, `cols` (1 to NR) columns, from the panel at `b`.
        ///
        /// # Safety
        /// The CPU has the kernel's features; A's rows of k floats (at strides `rs`, `ks`), a panel of k × NR floats
        /// at `b`, the addend's rows (`cols` floats, `ldd` apart, unless `d` is null) and C's rows (`cols` floats,
        /// `ldc` apart) lie inside their allocations.
        #[allow(clippy::too_many_arguments)]
        unsafe fn rows_tile(
            rows: usize,
            k: usize,
            a: *const f32,
            st: (usize, usize),
            b: *const f32,
            d: (*const f32, usize),
            c: *mut f32,
            ldc: usize,
            cols: usize,
        );
    }

    /// `count` groups of `m` rows of `C = addend + A·B` against the panels of packed B.
    ///
    /// # Safety
    /// The CPU has `M`'s features; every A[r, kk] of every group, every row of C (n floats from `j·c_step + r·ldc`)
    /// and the addend's rows lie inside their allocations; B holds `n.div_ceil(NR)` panels of `k × NR` floats; no
    /// other thread touches C meanwhile.
    #[inline(always)]
    pub unsafe fn gemm<M: Micro>((count, m, k, n, a, a_step, (rs, ks), b, addend, c, c_step, ldc): Args) {
        // Blocks of about ROW_BLOCK rows: several whole groups when groups are short, else part of one group.
        let groups_per_block = (ROW_BLOCK / m).max(1);
        let rows_per_block = if m >= ROW_BLOCK { ROW_BLOCK } else { m };
        for j0 in (0..count).step_by(groups_per_block) {
            let j1 = (j0 + groups_per_block).min(count);
            for r0 in (0..m).step_by(rows_per_block) {
                let r1 = (r0 + rows_per_block).min(m);
                for p in 0..n.div_ceil(NR) {
                    let cols = (n - p * NR).min(NR);
                    let bp = b.add(p * k * NR);
                    for j in j0..j1 {
                        let mut r = r0;
                        while r < r1 {
                            let rows = (r1 - r).min(M::MR);
                            let (ar, cp) = (a.add(j * a_step + r * rs), c.add(j * c_step + r * ldc + p * NR));
                            // Where the tile's addend rows are, and how far apart (null: none).
                            let d = match addend {
                                Addend::Nothing => (std::ptr::null(), 0),
                                Addend::C => (cp as *const f32, ldc),
                                Addend::Row(bias) => (bias.add(p * NR), 0),
                            };
                            M::rows_tile(rows, k, ar, (rs, ks), bp, d, cp, ldc, cols);
                            r += rows;
                        }
                    }
                }
            }
        }
    }

    /// 8 rows × 32 columns, 16 of the 32 AVX-512 registers.
    pub struct Avx512;

    impl Micro for Avx512 {
        const MR: usize = MR;

        #[target_feature(enable = "avx512f")]
        unsafe fn rows_tile(
            rows: usize,
            k: usize,
            a: *const f32,
            st: (usize, usize),
            b: *const f32,
            d: (*const f32, usize),
            c: *mut f32,
            ldc: usize,
            cols: usize,
        ) {
            // A last panel of at most 16 columns needs only one register per row.
            if cols > 16 {
                tile512_rows::<true>(rows, k, a, st, b, d, c, ldc, cols)
            } else {
                tile512_rows::<false>(rows, k, a, st, b, d, c, ldc, cols)
            }
        }
    }

    /// The tile for `rows` (1 to 8) rows: the row count is a compile-time constant of each tile.
    ///
    /// # Safety
    /// As [`tile512`].
    #[target_feature(enable = "avx512f")]
    #[inline]
    #[allow(clippy::too_many_arguments)]
    unsafe fn tile512_rows<const WIDE: bool>(
        rows: usize,
        k: usize,
        a: *const f32,
        st: (usize, usize),
        b: *const f32,
        d: (*const f32, usize),
        c: *mut f32,
        ldc: usize,
        cols: usize,
    ) {
        match rows {
            8 => tile512::<8, WIDE>(k, a, st, b, d, c, ldc, cols),
            7 => tile512::<7, WIDE>(k, a, st, b, d, c, ldc, cols),
            6 => tile512::<6, WIDE>(k, a, st, b, d, c, ldc, cols),
            5 => tile512::<5, WIDE>(k, a, st, b, d, c, ldc, cols),
            4 => tile512::<4, WIDE>(k, a, st, b, d, c, ldc, cols),
            3 => tile512::<3, WIDE>(k, a, st, b, d, c, ldc, cols),
            2 => tile512::<2, WIDE>(k, a, st, b, d, c, ldc, cols),
            _ => tile512::<1, WIDE>(k, a, st, b, d, c, ldc, cols),
        }
    }

    /// R rows × up to 32 columns (16 unless `WIDE`): `cols` of them are stored, through masks at the right edge.
    ///
    /// # Safety
    /// The CPU has AVX-512F; A's R rows of k floats (at strides `rs`, `ks`), a panel of k × 32 floats at `b`, the
    /// addend's R rows (`cols` floats, `ldd` apart, unless `d` is null) and C's R rows (`cols` floats, `ldc` apart)
    /// lie inside their allocations.
    #[target_feature(enable = "avx512f")]
    #[inline]
    #[allow(clippy::too_many_arguments)]
    unsafe fn tile512<const R: usize, const WIDE: bool>(
        k: usize,
        a: *const f32,
        (rs, ks): (usize, usize),
        b: *const f32,
        (d, ldd): (*const f32, usize),
        c: *mut f32,
        ldc: usize,
        cols: usize,
    ) {
        let mut lo = [_mm512_setzero_ps(); R];
        let mut hi = [_mm512_setzero_ps(); R];
        for kk in 0..k {
            let b0 = _mm512_loadu_ps(b.add(kk * NR));
            if WIDE {
                let b1 = _mm512_loadu_ps(b.add(kk * NR + 16));
                for r in 0..R {
                    let av = _mm512_set1_ps(*a.add(r * rs + kk * ks));
                    lo[r] = _mm512_fmadd_ps(av, b0, lo[r]);
                    hi[r] = _mm512_fmadd_ps(av, b1, hi[r]);
                }
            } else {
                for (r, lo) in lo.iter_mut().enumerate() {
                    *lo = _mm512_fmadd_ps(_mm512_set1_ps(*a.add(r * rs + kk * ks)), b0, *lo);
                }
            }
        }
        let mask_lo: __mmask16 = if cols >= 16 { 0xffff } else { ((1u32 << cols) - 1) as u16 };
        let mask_hi: __mmask16 = if cols <= 16 { 0 } else { ((1u32 << (cols - 16)) - 1) as u16 };
        for r in 0..R {
            let cp = c.add(r * ldc);
            let (mut v0, mut v1) = (lo[r], hi[r]);
            if !d.is_null() {
                let dp = d.add(r * ldd);
                v0 = _mm512_add_ps(v0, _mm512_maskz_loadu_ps(mask_lo, dp));
                v1 = _mm512_add_ps(v1, _mm512_maskz_loadu_ps(mask_hi, dp.wrapping_add(16)));
            }
            _mm512_mask_storeu_ps(cp, mask_lo, v0);
            if WIDE {
                _mm512_mask_storeu_ps(cp.wrapping_add(16), mask_hi, v1);
            }
        }
    }

    /// 6 rows × 16 columns, a panel in two halves: 12 sums, 2 rows of B and a broadcast in the 16 AVX2 registers.
    /// Each element is the same in-order fused sum as [`Avx512`]'s, so both levels give the same bits.
    pub struct Avx2;

    impl Micro for Avx2 {
        const MR: usize = 6;

        #[target_feature(enable = "avx2,fma")]
        unsafe fn rows_tile(
            rows: usize,
            k: usize,
            a: *const f32,
            st: (usize, usize),
            b: *const f32,
            d: (*const f32, usize),
            c: *mut f32,
            ldc: usize,
            cols: usize,
        ) {
            for half in 0..cols.div_ceil(16) {
                let off = 16 * half;
                let dh = if d.0.is_null() { d } else { (d.0.add(off), d.1) };
                let (bh, ch, cols) = (b.add(off), c.add(off), (cols - off).min(16));
                match (rows, cols > 8) {
                    (6, true) => tile256::<6, true>(k, a, st, bh, dh, ch, ldc, cols),
                    (5, true) => tile256::<5, true>(k, a, st, bh, dh, ch, ldc, cols),
                    (4, true) => tile256::<4, true>(k, a, st, bh, dh, ch, ldc, cols),
                    (3, true) => tile256::<3, true>(k, a, st, bh, dh, ch, ldc, cols),
                    (2, true) => tile256::<2, true>(k, a, st, bh, dh, ch, ldc, cols),
                    (_, true) => tile256::<1, true>(k, a, st, bh, dh, ch, ldc, cols),
                    (6, false) => tile256::<6, false>(k, a, st, bh, dh, ch, ldc, cols),
                    (5, false) => tile256::<5, false>(k, a, st, bh, dh, ch, ldc, cols),
                    (4, false) => tile256::<4, false>(k, a, st, bh, dh, ch, ldc, cols),
                    (3, false) => tile256::<3, false>(k, a, st, bh, dh, ch, ldc, cols),
                    (2, false) => tile256::<2, false>(k, a, st, bh, dh, ch, ldc, cols),
                    (_, false) => tile256::<1, false>(k, a, st, bh, dh, ch, ldc, cols),
                }
            }
        }
    }

    /// The lanes of an 8-float register below `n`, as an AVX2 load/store mask.
    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn lanes_below(n: usize) -> __m256i {
        _mm256_cmpgt_epi32(_mm256_set1_epi32(n.min(8) as i32), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7))
    }

    /// R rows × up to 16 columns (8 unless `WIDE`) of a panel whose rows are NR floats apart: `cols` of them are
    /// stored, through masks at the right edge.
    ///
    /// # Safety
    /// The CPU has AVX2 and FMA; A's R rows of k floats (at strides `rs`, `ks`), k rows of 16 floats NR apart at
    /// `b`, the addend's R rows (`cols` floats, `ldd` apart, unless `d` is null) and C's R rows (`cols` floats, `ldc`
    /// apart) lie inside their allocations.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    #[allow(clippy::too_many_arguments)]
    unsafe fn tile256<const R: usize, const WIDE: bool>(
        k: usize,
        a: *const f32,
        (rs, ks): (usize, usize),
        b: *const f32,
        (d, ldd): (*const f32, usize),
        c: *mut f32,
        ldc: usize,
        cols: usize,
    ) {
        let mut lo = [_mm256_setzero_ps(); R];
        let mut hi = [_mm256_setzero_ps(); R];
        for kk in 0..k {
            let b0 = _mm256_loadu_ps(b.add(kk * NR));
            if WIDE {
                let b1 = _mm256_loadu_ps(b.add(kk * NR + 8));
                for r in 0..R {
                    let av = _mm256_broadcast_ss(&*a.add(r * rs + kk * ks));
                    lo[r] = _mm256_fmadd_ps(av, b0, lo[r]);
                    hi[r] = _mm256_fmadd_ps(av, b1, hi[r]);
                }
            } else {
                for (r, lo) in lo.iter_mut().enumerate() {
                    *lo = _mm256_fmadd_ps(_mm256_broadcast_ss(&*a.add(r * rs + kk * ks)), b0, *lo);
                }
            }
        }
        let mask_lo = lanes_below(cols);
        let mask_hi = lanes_below(cols.saturating_sub(8));
        for r in 0..R {
            let cp = c.add(r * ldc);
            let (mut v0, mut v1) = (lo[r], hi[r]);
            if !d.is_null() {
                let dp = d.add(r * ldd);
                v0 = _mm256_add_ps(v0, _mm256_maskload_ps(dp, mask_lo));
                if WIDE {
                    v1 = _mm256_add_ps(v1, _mm256_maskload_ps(dp.wrapping_add(8), mask_hi));
                }
            }
            _mm256_maskstore_ps(cp, mask_lo, v0);
            if WIDE {
                _mm256_maskstore_ps(cp.wrapping_add(8), mask_hi, v1);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::gemm::Strides;

    /// The panels against B read element by element: two row-major parts side by side (the weight gradients' `[x h]`)
    /// of every width up to past a panel, so every run length 1..=NR is copied at some offset into a panel, and one
    /// transposed part (the forward's W_hhᵀ); the zero padding past column n included.
    #[test]
    fn packing_matches_b_element_by_element() {
        let (k, k0) = (5usize, 2usize);
        for n1 in 0..=40usize {
            for n2 in [1usize, 3, 33] {
                let (b1, b2): (Vec<f32>, Vec<f32>) = ((0..(k0 + k) * n1).map(|x| x as f32 + 0.5).collect(), (0..(k0 + k) * n2).map(|x| -(x as f32)).collect());
                let bt: Vec<f32> = (0..(k0 + k) * 7).map(|x| 1000.0 + x as f32).collect();
                let parts = [(n1, Mat::new(&b1, Strides::rows(n1))), (n2, Mat::new(&b2, Strides::rows(n2))), (7, Mat::new(&bt, Strides::transposed(k0 + k)))];
                let mut p = PackedB::default();
                p.pack_rows(k0..k0 + k, &parts);
                let n = n1 + n2 + 7;
                assert_eq!((p.k(), p.n()), (k, n));
                let data = &p.data[p.start..];
                assert_eq!(data.len(), n.div_ceil(NR) * k * NR + ALIGN_SLACK - p.start);
                for kk in 0..k {
                    for col in 0..n.div_ceil(NR) * NR {
                        let want = if col < n1 {
                            b1[(k0 + kk) * n1 + col]
                        } else if col < n1 + n2 {
                            b2[(k0 + kk) * n2 + col - n1]
                        } else if col < n {
                            bt[(col - n1 - n2) * (k0 + k) + k0 + kk]
                        } else {
                            0.0
                        };
                        let got = data[((col / NR) * k + kk) * NR + col % NR];
                        assert_eq!(got.to_bits(), want.to_bits(), "n1={n1} n2={n2} row {kk} column {col}");
                    }
                }
            }
        }
    }
}
