//! Matrix multiply on strided views: `C = α·A·B + β·C`.
//!
//! The fast path is `matrixmultiply::sgemm` (its kernels detected at run time: AVX-512F, FMA+AVX2, AVX, or portable)
//! run single-threaded on each rayon thread's share of C. At the `scalar` SIMD level ([`super::simd`]) on x86-64,
//! which matrixmultiply has no way to honour, products run [`portable`] loops instead. Work is split by output element
//! (rows of C, or columns when C has few rows), so each element's sum runs in one fixed order whatever the thread
//! count, and results are bit-identical across counts.

use super::simd::{active, SimdLevel};
use super::small;
use super::SendPtr;
use rayon::prelude::*;

/// Up to this many rows (samples), or this deep a sum, products go to the streaming kernels of [`small`].
pub const SMALL: usize = 4;

/// Element strides of a matrix view: element (r, c) lives at `r·rs + c·cs`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Strides {
    pub rs: usize,
    pub cs: usize,
}

impl Strides {
    /// A row-major matrix whose rows are `row_len` apart.
    pub const fn rows(row_len: usize) -> Self {
        Strides { rs: row_len, cs: 1 }
    }
    /// The transpose of a row-major matrix stored with rows `row_len` apart.
    pub const fn transposed(row_len: usize) -> Self {
        Strides { rs: 1, cs: row_len }
    }
    /// One past the largest index a `rows × cols` view touches.
    fn extent(self, rows: usize, cols: usize) -> usize {
        if rows == 0 || cols == 0 {
            0
        } else {
            (rows - 1) * self.rs + (cols - 1) * self.cs + 1
        }
    }
    /// Whether no two elements of a `rows × cols` view share a place: one stride at least as long as the other
    /// dimension's whole span (row-major and column-major views, padded or not). Views that interleave in some
    /// other way are refused too, a sufficient test that never accepts an overlap.
    fn distinct(self, rows: usize, cols: usize) -> bool {
        if rows == 0 || cols == 0 {
            return true;
        }
        if rows == 1 || cols == 1 {
            let (len, s) = if rows <= 1 { (cols, self.cs) } else { (rows, self.rs) };
            return len <= 1 || s >= 1;
        }
        let ((s1, d1), s2) = if self.rs <= self.cs { ((self.rs, rows), self.cs) } else { ((self.cs, cols), self.rs) };
        s1 >= 1 && s2 > (d1 - 1) * s1
    }
}

/// A read-only matrix view into a slice.
#[derive(Clone, Copy)]
pub struct Mat<'a> {
    pub data: &'a [f32],
    pub st: Strides,
}

impl<'a> Mat<'a> {
    pub fn new(data: &'a [f32], st: Strides) -> Self {
        Mat { data, st }
    }
}

/// Blocks of rows or columns given to threads are multiples of this: the largest microkernel tile side of
/// matrixmultiply (16 with AVX-512; 8 otherwise), so each block's tiles line up with those of one whole call.
const TILE: usize = 16;

/// Single-threaded `C[m×n] = α·A[m×k]·B[k×n] + β·C` on the current thread. With β = 0, C is not read.
///
/// # Panics
/// If a view exceeds its slice, or C's view puts two elements in one place.
#[allow(clippy::too_many_arguments)]
pub fn gemm(m: usize, k: usize, n: usize, alpha: f32, a: Mat, b: Mat, beta: f32, c: &mut [f32], cs: Strides) {
    check(m, k, n, a, b, c.len(), cs);
    // SAFETY: `check` proved every index the views touch lies inside the slices.
    unsafe { raw_gemm(m, k, n, alpha, a.data.as_ptr(), a.st, b.data.as_ptr(), b.st, beta, c.as_mut_ptr(), cs) }
}

/// `C = α·A·B + β·C` split between the threads of the current rayon pool by output element.
///
/// # Panics
/// As [`gemm`]: if a view exceeds its slice, or C's view puts two elements in one place (the threads' pieces of C
/// are then disjoint).
#[allow(clippy::too_many_arguments)]
pub fn par_gemm(m: usize, k: usize, n: usize, alpha: f32, a: Mat, b: Mat, beta: f32, c: &mut [f32], cs: Strides) {
    check(m, k, n, a, b, c.len(), cs);
    // A tiny m (a batch of a few samples) or k (a sum over a few rows): stream the big matrix once instead of
    // packing it. The choice depends on the shape only, never on the thread count, so results stay bit-identical.
    if alpha == 1.0 && (beta == 0.0 || beta == 1.0) && cs.cs == 1 {
        if m <= SMALL && a.st.cs == 1 && b.st == Strides::transposed(k) {
            return small::par_gemm_a_wt(m, k, n, a.data, a.st.rs, b.data, beta, c, cs.rs);
        }
        if m <= SMALL && a.st.cs == 1 && b.st.cs == 1 {
            return small::par_gemm_a_b(m, k, n, a.data, a.st.rs, b.data, b.st.rs, beta, c, cs.rs);
        }
        if k <= SMALL && a.st.rs == 1 && b.st.cs == 1 {
            return small::par_gemm_gt_x(m, k, n, a.data, a.st.cs, b.data, b.st.rs, beta, c, cs.rs);
        }
    }
    let threads = rayon::current_num_threads();
    // Below this much work a split costs more than it saves.
    if threads == 1 || m * n * k.max(1) < 32 * 1024 {
        return gemm(m, k, n, alpha, a, b, beta, c, cs);
    }
    let cptr = SendPtr::new(c);
    let (ap, bp) = (a.data.as_ptr() as usize, b.data.as_ptr() as usize);
    // Split rows of C (and A) into one block per thread, or, with few rows (small batches, matrix-vector products),
    // columns of C (and B). Blocks are aligned to the microkernel's tile so every element falls in the same full or
    // partial tile as in one call. matrixmultiply's tiles are 8×8 (AVX2/FMA) or 16×16 (AVX-512, its default
    // `avx512` feature); partial tiles go through a masked kernel that rounds α·AB + β·C differently, so blocks of 8
    // rows would break the bit-identity on AVX-512 machines whenever β ∉ {0, 1}.
    let by_rows = m >= 4 * threads;
    let len = if by_rows { m } else { n };
    let block = len.div_ceil(threads).div_ceil(TILE) * TILE;
    (0..len.div_ceil(block)).into_par_iter().for_each(|i| {
        let (start, size) = (i * block, block.min(len - i * block));
        let (rows, cols) = if by_rows { (size, n) } else { (m, size) };
        // Element offsets of the block's first row (or column) in A, B and C.
        let (a_off, b_off, c_off) = if by_rows { (start * a.st.rs, 0, start * cs.rs) } else { (0, start * b.st.cs, start * cs.cs) };
        // SAFETY: the blocks are disjoint, and `check` bounded the whole views.
        unsafe { raw_gemm(rows, k, cols, alpha, (ap as *const f32).add(a_off), a.st, (bp as *const f32).add(b_off), b.st, beta, cptr.get().add(c_off), cs) }
    });
}

fn check(m: usize, k: usize, n: usize, a: Mat, b: Mat, c_len: usize, cs: Strides) {
    // These are internal invariants (callers size every buffer from validated shapes), not user-data checks.
    assert!(a.st.extent(m, k) <= a.data.len(), "gemm: A view {m}x{k} {:?} exceeds {}", a.st, a.data.len());
    assert!(b.st.extent(k, n) <= b.data.len(), "gemm: B view {k}x{n} {:?} exceeds {}", b.st, b.data.len());
    assert!(cs.extent(m, n) <= c_len, "gemm: C view {m}x{n} {cs:?} exceeds {c_len}");
    assert!(cs.distinct(m, n), "gemm: C view {m}x{n} {cs:?} puts two elements in one place");
}

/// `C = α·A·B + β·C` on raw views: matrixmultiply, or [`portable`] at the `scalar` level on x86-64.
///
/// # Safety
/// Every element of the `m × k`, `k × n` and `m × n` views of A, B and C at these strides is inside its allocation,
/// C's view puts no two elements in one place, and no other thread reads or writes C's elements meanwhile.
#[allow(clippy::too_many_arguments)]
unsafe fn raw_gemm(m: usize, k: usize, n: usize, alpha: f32, a: *const f32, sa: Strides, b: *const f32, sb: Strides, beta: f32, c: *mut f32, sc: Strides) {
    if m == 0 || n == 0 {
        return;
    }
    // On aarch64 matrixmultiply's NEON kernel uses only the baseline instructions, so it serves every level there.
    if cfg!(target_arch = "x86_64") && active() == SimdLevel::Scalar {
        // SAFETY: the caller's contract is this function's.
        return unsafe { portable(m, k, n, alpha, a, sa, b, sb, beta, c, sc) };
    }
    // SAFETY: the caller's contract is the one matrixmultiply states.
    unsafe {
        matrixmultiply::sgemm(m, k, n, alpha, a, sa.rs as isize, sa.cs as isize, b, sb.rs as isize, sb.cs as isize, beta, c, sc.rs as isize, sc.cs as isize)
    }
}

/// Columns of C per block of [`portable`]: a block's sums stay in L1.
const PORTABLE_COLS: usize = 64;
/// Rows of C whose sums [`portable`] forms together, each row of B read once for all of them.
const PORTABLE_ROWS: usize = 4;
/// Rows of C per pass over a packed piece of B: packing costs one copy per this many multiply-adds.
const PORTABLE_PASS: usize = 32;
/// Rows of B packed at once when B's rows are not contiguous: the pack (16 KiB) and the sums of a pass (8 KiB) are
/// fixed arrays on the stack, so no product allocates, however deep its sums.
const PORTABLE_DEPTH: usize = 64;

/// `C = α·A·B + β·C` in plain Rust, for the `scalar` level: no instruction beyond the target's baseline (the compiler
/// vectorises the inner loop with SSE2 on x86-64). Each element is `Σ_p A[r, p]·B[p, c]` in order of p from zero,
/// then `α·Σ + β·C` (C not read when β = 0), so no result depends on how C is split into blocks or between threads,
/// nor on whether B was packed.
///
/// B's rows are read in place when they are contiguous (`sb.cs == 1`); otherwise pieces of [`PORTABLE_DEPTH`] rows
/// of one block of columns are copied into a fixed pack first, and the sums of [`PORTABLE_PASS`] rows of C carried
/// from piece to piece.
///
/// # Safety
/// As [`raw_gemm`].
#[allow(clippy::too_many_arguments)]
unsafe fn portable(m: usize, k: usize, n: usize, alpha: f32, a: *const f32, sa: Strides, b: *const f32, sb: Strides, beta: f32, c: *mut f32, sc: Strides) {
    let mut pack = [0.0f32; PORTABLE_DEPTH * PORTABLE_COLS];
    let mut acc = [[0.0f32; PORTABLE_COLS]; PORTABLE_PASS];
    for c0 in (0..n).step_by(PORTABLE_COLS) {
        let nb = PORTABLE_COLS.min(n - c0);
        for m0 in (0..m).step_by(PORTABLE_PASS) {
            let mb = PORTABLE_PASS.min(m - m0);
            acc[..mb].iter_mut().for_each(|row| row.fill(0.0));
            for p0 in (0..k).step_by(PORTABLE_DEPTH) {
                let kb = PORTABLE_DEPTH.min(k - p0);
                if sb.cs != 1 {
                    for p in 0..kb {
                        for (j, d) in pack[p * PORTABLE_COLS..][..nb].iter_mut().enumerate() {
                            // SAFETY: (p0 + p, c0 + j) is inside B's view.
                            *d = unsafe { *b.add((p0 + p) * sb.rs + (c0 + j) * sb.cs) };
                        }
                    }
                }
                let row_of_b = |p: usize| -> &[f32] {
                    if sb.cs == 1 {
                        // SAFETY: columns c0..c0 + nb of row p0 + p are inside B's view, and contiguous.
                        unsafe { std::slice::from_raw_parts(b.add((p0 + p) * sb.rs + c0), nb) }
                    } else {
                        &pack[p * PORTABLE_COLS..][..nb]
                    }
                };
                for r0 in (0..mb).step_by(PORTABLE_ROWS) {
                    let rows = PORTABLE_ROWS.min(mb - r0);
                    let acc = &mut acc[r0..r0 + rows];
                    for p in 0..kb {
                        let bp = row_of_b(p);
                        for (r, acc) in acc.iter_mut().enumerate() {
                            // SAFETY: (m0 + r0 + r, p0 + p) is inside A's view.
                            let s = unsafe { *a.add((m0 + r0 + r) * sa.rs + (p0 + p) * sa.cs) };
                            for (x, y) in acc[..nb].iter_mut().zip(bp) {
                                *x += s * *y;
                            }
                        }
                    }
                }
            }
            for (r, acc) in acc[..mb].iter().enumerate() {
                for (j, v) in acc[..nb].iter().enumerate() {
                    // SAFETY: (m0 + r, c0 + j) is inside C's view, which this call alone touches.
                    unsafe {
                        let dst = c.add((m0 + r) * sc.rs + (c0 + j) * sc.cs);
                        *dst = if beta == 0.0 { alpha * v } else { alpha * v + beta * *dst };
                    }
                }
            }
        }
    }
}

/// Reference kernel: the textbook triple loop, summing in f64.
#[allow(clippy::too_many_arguments)]
pub fn gemm_reference(m: usize, k: usize, n: usize, alpha: f32, a: Mat, b: Mat, beta: f32, c: &mut [f32], cs: Strides) {
    check(m, k, n, a, b, c.len(), cs);
    for r in 0..m {
        for col in 0..n {
            let mut acc = 0.0f64;
            for i in 0..k {
                acc += a.data[r * a.st.rs + i * a.st.cs] as f64 * b.data[i * b.st.rs + col * b.st.cs] as f64;
            }
            let dst = &mut c[r * cs.rs + col * cs.cs];
            let prev = if beta == 0.0 { 0.0 } else { beta * *dst };
            *dst = (alpha as f64 * acc) as f32 + prev;
        }
    }
}

/// `out[j] += Σ_r m[r, j]` for a row-major `rows × cols` matrix, split by column so each sum has one order.
pub fn par_col_sums_add(mat: &[f32], rows: usize, cols: usize, out: &mut [f32]) {
    debug_assert!(mat.len() >= rows * cols && out.len() == cols);
    let threads = rayon::current_num_threads();
    let block = cols.div_ceil(threads).max(16);
    out.par_chunks_mut(block).enumerate().for_each(|(bi, dst)| {
        let c0 = bi * block;
        for r in 0..rows {
            let row = &mat[r * cols + c0..r * cols + c0 + dst.len()];
            for (d, v) in dst.iter_mut().zip(row) {
                *d += *v;
            }
        }
    });
}
