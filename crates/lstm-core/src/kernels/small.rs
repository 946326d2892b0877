//! Kernels for products with a tiny dimension: a batch of one to a few samples (matrix-vector products) or a sum
//! over one to a few rows (rank-k updates). matrixmultiply packs the whole weight matrix on every call, which for
//! a matrix-vector product costs more than the product; these stream each weight once.
//! Each output element is summed by one thread in a fixed order, so results do not depend on the thread count.

use super::simd::{dispatch, MulAdd};
use super::SendPtr;
use rayon::prelude::*;

/// Lanes of the independent partial sums: two AVX registers, enough to hide the FMA latency.
const LANES: usize = 16;

/// Σ a[i]·b[i] with a fixed summation tree.
#[inline(always)]
fn dot_body<M: MulAdd>(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f32; LANES];
    let chunks = n / LANES;
    for c in 0..chunks {
        let (x, y) = (&a[c * LANES..(c + 1) * LANES], &b[c * LANES..(c + 1) * LANES]);
        for l in 0..LANES {
            acc[l] = M::mul_add(x[l], y[l], acc[l]);
        }
    }
    let mut tail = 0.0f32;
    for i in chunks * LANES..n {
        tail = M::mul_add(a[i], b[i], tail);
    }
    sum_lanes(acc, tail)
}

/// The dot products' pairwise reduction of the lane sums, then the tail: a fixed order.
#[inline(always)]
fn sum_lanes(mut acc: [f32; LANES], tail: f32) -> f32 {
    let mut width = LANES;
    while width > 1 {
        width /= 2;
        for l in 0..width {
            acc[l] += acc[l + width];
        }
    }
    acc[0] + tail
}

dispatch!(
    /// Σ a[i]·b[i] with a fixed summation tree.
    pub fn dot(a: &[f32], b: &[f32]) -> f32 => dot_body
);

/// `dst[j] += Σ_i s[i]·rows(i)[j]` for i in order, four rows per pass so `dst` is loaded and stored once per
/// four rows.
///
/// # Safety
/// For every i < k, `rows(i)` points at `dst.len()` readable floats that nothing writes meanwhile.
#[inline(always)]
unsafe fn combine_rows<M: MulAdd>(s: impl Fn(usize) -> f32, rows: impl Fn(usize) -> *const f32, k: usize, dst: &mut [f32]) {
    let len = dst.len();
    let mut i = 0;
    while i + 4 <= k {
        let (s0, s1, s2, s3) = (s(i), s(i + 1), s(i + 2), s(i + 3));
        // SAFETY: the caller's contract.
        let (r0, r1, r2, r3) = unsafe {
            (
                std::slice::from_raw_parts(rows(i), len),
                std::slice::from_raw_parts(rows(i + 1), len),
                std::slice::from_raw_parts(rows(i + 2), len),
                std::slice::from_raw_parts(rows(i + 3), len),
            )
        };
        for j in 0..len {
            let mut v = dst[j];
            v = M::mul_add(s0, r0[j], v);
            v = M::mul_add(s1, r1[j], v);
            v = M::mul_add(s2, r2[j], v);
            v = M::mul_add(s3, r3[j], v);
            dst[j] = v;
        }
        i += 4;
    }
    while i < k {
        let si = s(i);
        // SAFETY: the caller's contract.
        let r = unsafe { std::slice::from_raw_parts(rows(i), len) };
        for j in 0..len {
            dst[j] = M::mul_add(si, r[j], dst[j]);
        }
        i += 1;
    }
}

/// Columns per task: large enough to amortise scheduling, small enough to balance the threads.
fn column_block(n: usize) -> usize {
    n.div_ceil(rayon::current_num_threads() * 4).clamp(64, 4096)
}

/// Outputs `j0..j1` of every row of C = A·Wᵀ, each one dot product of a row of A with a row of W.
///
/// # Safety
/// C's elements `r·ldc + j` for r < m and j0 ≤ j < j1 are inside its allocation, and no other thread touches them
/// meanwhile.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn a_wt_block<M: MulAdd>(m: usize, k: usize, a: &[f32], lda: usize, w: &[f32], beta: f32, c: SendPtr, ldc: usize, j0: usize, j1: usize) {
    for j in j0..j1 {
        let wj = &w[j * k..(j + 1) * k];
        for r in 0..m {
            let v = dot_body::<M>(&a[r * lda..r * lda + k], wj);
            // SAFETY: the caller's contract.
            unsafe {
                let dst = c.0.add(r * ldc + j);
                *dst = if beta == 0.0 { v } else { *dst + v };
            }
        }
    }
}
dispatch!(
    /// [`a_wt_block`] at the active SIMD level.
    ///
    /// # Safety
    /// As [`a_wt_block`].
    unsafe fn a_wt_task(m: usize, k: usize, a: &[f32], lda: usize, w: &[f32], beta: f32, c: SendPtr, ldc: usize, j0: usize, j1: usize) => a_wt_block
);

/// The dot products of R rows of A with S rows of W at once, each summed as [`dot_body`] sums it with fused
/// multiply-adds (so the same bits), its 16 lanes in one register: R·S independent chains of multiply-adds, where
/// one product alone waits on its own chain. (The compiler builds `dot_body`'s lanes as 2-float pieces.)
///
/// # Safety
/// The CPU has AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn dots_avx512<const R: usize, const S: usize>(a: [&[f32]; R], w: [&[f32]; S], k: usize) -> [[f32; S]; R] {
    use std::arch::x86_64::*;
    assert!(a.iter().all(|r| r.len() >= k) && w.iter().all(|r| r.len() >= k));
    let chunks = k / LANES;
    let mut acc = [[_mm512_setzero_ps(); S]; R];
    for ch in 0..chunks {
        // SAFETY: ch·16 + 16 ≤ k, within every row (asserted above).
        let wv: [__m512; S] = std::array::from_fn(|s| unsafe { _mm512_loadu_ps(w[s].as_ptr().add(ch * LANES)) });
        for r in 0..R {
            // SAFETY: as above.
            let av = unsafe { _mm512_loadu_ps(a[r].as_ptr().add(ch * LANES)) };
            for s in 0..S {
                acc[r][s] = _mm512_fmadd_ps(av, wv[s], acc[r][s]);
            }
        }
    }
    std::array::from_fn(|r| {
        std::array::from_fn(|s| {
            let mut tail = 0.0f32;
            for i in chunks * LANES..k {
                tail = a[r][i].mul_add(w[s][i], tail);
            }
            let mut lanes = [0.0f32; LANES];
            // SAFETY: lanes holds 16 floats.
            unsafe { _mm512_storeu_ps(lanes.as_mut_ptr(), acc[r][s]) };
            sum_lanes(lanes, tail)
        })
    })
}

/// [`a_wt_block`] on [`dots_avx512`]: all M rows of A against two rows of W at a time.
///
/// # Safety
/// The CPU has AVX-512F, and [`a_wt_block`]'s contract holds for M rows.
#[allow(clippy::too_many_arguments)]
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn a_wt_rows_avx512<const M: usize>(k: usize, a: &[f32], lda: usize, w: &[f32], beta: f32, c: SendPtr, ldc: usize, j0: usize, j1: usize) {
    let ar: [&[f32]; M] = std::array::from_fn(|r| &a[r * lda..r * lda + k]);
    let store = |r: usize, j: usize, v: f32| {
        // SAFETY: the caller's contract.
        unsafe {
            let dst = c.0.add(r * ldc + j);
            *dst = if beta == 0.0 { v } else { *dst + v };
        }
    };
    let mut j = j0;
    while j + 2 <= j1 {
        // SAFETY: this function runs only where AVX-512F is present.
        let v = unsafe { dots_avx512::<M, 2>(ar, [&w[j * k..(j + 1) * k], &w[(j + 1) * k..(j + 2) * k]], k) };
        for (r, pair) in v.iter().enumerate() {
            store(r, j, pair[0]);
            store(r, j + 1, pair[1]);
        }
        j += 2;
    }
    if j < j1 {
        // SAFETY: as above.
        let v = unsafe { dots_avx512::<M, 1>(ar, [&w[j * k..(j + 1) * k]], k) };
        for (r, one) in v.iter().enumerate() {
            store(r, j, one[0]);
        }
    }
}

/// [`a_wt_block`] with AVX-512 intrinsics: up to four rows of A at a time (one pass for a batch of at most
/// [`super::gemm::SMALL`]).
///
/// # Safety
/// The CPU has AVX-512F, and [`a_wt_block`]'s contract holds.
#[allow(clippy::too_many_arguments)]
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn a_wt_block_avx512(m: usize, k: usize, a: &[f32], lda: usize, w: &[f32], beta: f32, c: SendPtr, ldc: usize, j0: usize, j1: usize) {
    let mut r0 = 0;
    while r0 < m {
        let rows = (m - r0).min(4);
        // SAFETY: rows r0.. of C lie inside C and belong to this task (the caller's contract); AVX-512F is present.
        unsafe {
            let (a, c) = (&a[r0 * lda..], c.add(r0 * ldc));
            match rows {
                1 => a_wt_rows_avx512::<1>(k, a, lda, w, beta, c, ldc, j0, j1),
                2 => a_wt_rows_avx512::<2>(k, a, lda, w, beta, c, ldc, j0, j1),
                3 => a_wt_rows_avx512::<3>(k, a, lda, w, beta, c, ldc, j0, j1),
                _ => a_wt_rows_avx512::<4>(k, a, lda, w, beta, c, ldc, j0, j1),
            }
        }
        r0 += rows;
    }
}

/// The checks of every entry that writes `C[m×n]` with rows `ldc` apart from several threads: C holds the view,
/// and its rows cannot overlap.
fn check_c(m: usize, n: usize, c: &[f32], ldc: usize) {
    assert!(m == 0 || n == 0 || (m - 1) * ldc + n <= c.len(), "C view {m}x{n} with rows {ldc} apart exceeds {}", c.len());
    assert!(m <= 1 || ldc >= n, "C's rows ({n} floats) overlap: {ldc} apart");
}

/// `C[r, j] = β·C[r, j] + Σ_i A[r, i]·W[j, i]` for r < m, with W `[n, k]` row-major (C = A·Wᵀ): one dot product
/// per output, parallel over j. `beta` is 0 or 1.
///
/// # Panics
/// If a view exceeds its slice, or C's rows overlap (`ldc < n` with m > 1).
#[allow(clippy::too_many_arguments)]
pub fn par_gemm_a_wt(m: usize, k: usize, n: usize, a: &[f32], lda: usize, w: &[f32], beta: f32, c: &mut [f32], ldc: usize) {
    assert!(m == 0 || (m - 1) * lda + k <= a.len());
    assert!(n * k <= w.len());
    check_c(m, n, c, ldc);
    let cp = SendPtr::new(c);
    let block = column_block(n);
    #[cfg(target_arch = "x86_64")]
    if super::simd::active() == super::simd::SimdLevel::Avx512 {
        // SAFETY: the CPU has AVX-512F (the active level is never above it); each task owns its columns of C, whose
        // rows cannot overlap and lie inside C (checked above).
        let task = |bi: usize| unsafe { a_wt_block_avx512(m, k, a, lda, w, beta, cp, ldc, bi * block, ((bi + 1) * block).min(n)) };
        (0..n.div_ceil(block)).into_par_iter().for_each(task);
        return;
    }
    // SAFETY: as above, for the columns of each task.
    (0..n.div_ceil(block)).into_par_iter().for_each(|bi| unsafe { a_wt_task(m, k, a, lda, w, beta, cp, ldc, bi * block, ((bi + 1) * block).min(n)) });
}

/// Columns `c0..c1` of every row of `C = β·C + A·B`.
///
/// # Safety
/// C's elements `r·ldc + j` for r < m and c0 ≤ j < c1 are inside its allocation, and no other thread touches them
/// meanwhile.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn a_b_block<M: MulAdd>(m: usize, k: usize, a: &[f32], lda: usize, b: &[f32], ldb: usize, beta: f32, c: SendPtr, ldc: usize, c0: usize, c1: usize) {
    // Up to four rows of C at once, so each row of B is read from memory once for all of them.
    let mut r0 = 0;
    while r0 < m {
        let rows = (m - r0).min(4);
        // SAFETY: the caller's contract.
        unsafe {
            match rows {
                1 => a_b_rows::<M, 1>(k, a, lda, b, ldb, beta, c, ldc, r0, c0, c1),
                2 => a_b_rows::<M, 2>(k, a, lda, b, ldb, beta, c, ldc, r0, c0, c1),
                3 => a_b_rows::<M, 3>(k, a, lda, b, ldb, beta, c, ldc, r0, c0, c1),
                _ => a_b_rows::<M, 4>(k, a, lda, b, ldb, beta, c, ldc, r0, c0, c1),
            }
        }
        r0 += rows;
    }
}

/// Rows `r0..r0+R` of C, columns `c0..c1`: `dst_r += Σ_i A[r, i]·B[i, :]`, four rows of B per pass and in order of
/// i, as [`combine_rows`] does for one row.
///
/// # Safety
/// As [`a_b_block`], for these R rows.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn a_b_rows<M: MulAdd, const R: usize>(
    k: usize,
    a: &[f32],
    lda: usize,
    b: &[f32],
    ldb: usize,
    beta: f32,
    c: SendPtr,
    ldc: usize,
    r0: usize,
    c0: usize,
    c1: usize,
) {
    let len = c1 - c0;
    // SAFETY: the caller's contract (columns c0..c1 of these rows are inside C and this task's alone).
    let mut dst: [&mut [f32]; R] = std::array::from_fn(|r| unsafe { std::slice::from_raw_parts_mut(c.0.add((r0 + r) * ldc + c0), len) });
    if beta == 0.0 {
        dst.iter_mut().for_each(|d| d.fill(0.0));
    }
    let s = |r: usize, i: usize| a[(r0 + r) * lda + i];
    let brow = |i: usize| &b[i * ldb + c0..i * ldb + c1];
    let mut i = 0;
    while i + 4 <= k {
        let sc: [[f32; 4]; R] = std::array::from_fn(|r| [s(r, i), s(r, i + 1), s(r, i + 2), s(r, i + 3)]);
        let (b0, b1, b2, b3) = (brow(i), brow(i + 1), brow(i + 2), brow(i + 3));
        for j in 0..len {
            let (x0, x1, x2, x3) = (b0[j], b1[j], b2[j], b3[j]);
            for r in 0..R {
                let mut v = dst[r][j];
                v = M::mul_add(sc[r][0], x0, v);
                v = M::mul_add(sc[r][1], x1, v);
                v = M::mul_add(sc[r][2], x2, v);
                v = M::mul_add(sc[r][3], x3, v);
                dst[r][j] = v;
            }
        }
        i += 4;
    }
    while i < k {
        let br = brow(i);
        for (r, dst) in dst.iter_mut().enumerate() {
            let si = s(r, i);
            for (d, x) in dst.iter_mut().zip(br) {
                *d = M::mul_add(si, *x, *d);
            }
        }
        i += 1;
    }
}
dispatch!(
    /// [`a_b_block`] at the active SIMD level.
    ///
    /// # Safety
    /// As [`a_b_block`].
    unsafe fn a_b_task(m: usize, k: usize, a: &[f32], lda: usize, b: &[f32], ldb: usize, beta: f32, c: SendPtr, ldc: usize, c0: usize, c1: usize) => a_b_block
);

/// Terms of each sum (rows of B) per partial sum when [`par_gemm_a_b`] splits the sums: a constant, so the order
/// of every sum depends on k only, never on the thread count.
const TERMS_PER_PART: usize = 128;

thread_local! {
    /// The partial sums of [`par_gemm_a_b`]: kept per thread, so steady-state calls do not allocate.
    static PARTIALS: std::cell::Cell<Vec<f32>> = const { std::cell::Cell::new(Vec::new()) };
}

/// `C[r, :] = β·C[r, :] + Σ_i A[r, i]·B[i, :]` for r < m, with B `[k, n]` row-major: scaled rows of B summed in
/// order of i. `beta` is 0 or 1.
///
/// A deep sum (k over [`TERMS_PER_PART`]) is cut into fixed runs of rows of B, each summed by one task into a
/// partial row, then the partials are added in order. Each task then streams a contiguous block of B, which the
/// prefetchers follow; splitting the columns instead would give each task a short piece of every row of B, which
/// they follow badly.
///
/// # Panics
/// If a view exceeds its slice, or C's rows overlap (`ldc < n` with m > 1).
#[allow(clippy::too_many_arguments)]
pub fn par_gemm_a_b(m: usize, k: usize, n: usize, a: &[f32], lda: usize, b: &[f32], ldb: usize, beta: f32, c: &mut [f32], ldc: usize) {
    assert!(m == 0 || (m - 1) * lda + k <= a.len());
    assert!(k == 0 || (k - 1) * ldb + n <= b.len());
    check_c(m, n, c, ldc);
    if k.div_ceil(TERMS_PER_PART) < 2 || m == 0 || n == 0 {
        let cp = SendPtr::new(c);
        let block = column_block(n);
        // SAFETY: each task owns its columns of C, whose rows cannot overlap and lie inside C (checked above).
        (0..n.div_ceil(block)).into_par_iter().for_each(|bi| unsafe { a_b_task(m, k, a, lda, b, ldb, beta, cp, ldc, bi * block, ((bi + 1) * block).min(n)) });
        return;
    }
    a_b_by_runs(m, k, n, a, lda, RowsOfB::Read(b, ldb), beta, c, ldc);
}

/// What [`par_gemm_a_b_then`] hands each run of rows of B to: its first row and the rows.
pub type RunHandoff<'a> = dyn Fn(usize, &mut [f32]) + Sync + 'a;

/// [`par_gemm_a_b`] with B `[k, n]` stored densely (rows n apart), where each run of rows of B is handed to
/// `after(i0, rows)` (its first row and the rows, mutable) as soon as the product has read it: an optimizer
/// update, say, while the rows are still in cache. Every run goes to exactly one call, after its last read, and
/// runs never overlap, so concurrent calls touch disjoint rows.
///
/// # Panics
/// If a view exceeds its slice, or C's rows overlap (`ldc < n` with m > 1).
#[allow(clippy::too_many_arguments)]
pub fn par_gemm_a_b_then(m: usize, k: usize, n: usize, a: &[f32], lda: usize, b: &mut [f32], beta: f32, c: &mut [f32], ldc: usize, after: &RunHandoff<'_>) {
    assert!(m == 0 || (m - 1) * lda + k <= a.len());
    assert!(k * n <= b.len());
    check_c(m, n, c, ldc);
    a_b_by_runs(m, k, n, a, lda, RowsOfB::Update(SendPtr::new(b), after), beta, c, ldc);
}

/// B for [`a_b_by_runs`]: only read (rows `ldb` apart), or stored densely and handed over run by run.
#[derive(Clone, Copy)]
enum RowsOfB<'a, 'h> {
    Read(&'a [f32], usize),
    Update(SendPtr<'a>, &'h RunHandoff<'h>),
}

/// The split by runs of rows of B behind [`par_gemm_a_b`] and [`par_gemm_a_b_then`]; bounds checked by them.
#[allow(clippy::too_many_arguments)]
fn a_b_by_runs(m: usize, k: usize, n: usize, a: &[f32], lda: usize, b: RowsOfB, beta: f32, c: &mut [f32], ldc: usize) {
    let parts = k.div_ceil(TERMS_PER_PART);
    let cp = SendPtr::new(c);
    // Taken out of the thread's slot for the call (a nested call would find it empty and use a new one). Its size
    // follows the caller's shapes, so it is asked for fallibly; without it the same sums are formed in fixed memory.
    let mut partials = PARTIALS.take();
    if partials.len() < parts * m * n {
        if crate::mem::room(&mut partials, parts * m * n, String::new).is_err() {
            PARTIALS.set(partials);
            return a_b_by_columns(m, k, n, a, lda, b, beta, cp, ldc);
        }
        partials.resize(parts * m * n, 0.0);
    }
    let pp = SendPtr::new(&mut partials[..]);
    (0..parts).into_par_iter().for_each(|p| {
        let (i0, i1) = (p * TERMS_PER_PART, ((p + 1) * TERMS_PER_PART).min(k));
        let a = a.get(i0..).unwrap_or(&[]);
        // SAFETY: part p owns the m·n floats at p·m·n, inside `partials`; a run's rows of B lie inside B (callers
        // checked), and with `Update`, B's rows are n apart, so this task alone touches its run.
        unsafe {
            let out = pp.add(p * m * n);
            match b {
                RowsOfB::Read(b, ldb) => a_b_task(m, i1 - i0, a, lda, &b[i0 * ldb..], ldb, 0.0, out, n, 0, n),
                RowsOfB::Update(b, after) => {
                    let run = std::slice::from_raw_parts_mut(b.0.add(i0 * n), (i1 - i0) * n);
                    a_b_task(m, i1 - i0, a, lda, run, n, 0.0, out, n, 0, n);
                    // The product is done with the run: hand it over.
                    after(i0, run);
                }
            }
        }
    });
    let partials_ref = &partials[..parts * m * n];
    let block = column_block(n);
    let reduce = |bi: usize| {
        let (c0, c1) = (bi * block, ((bi + 1) * block).min(n));
        let cp = &cp;
        for r in 0..m {
            // SAFETY: columns c0..c1 of row r belong to this task only (C's rows do not overlap), inside C; both
            // checked by the callers.
            let dst = unsafe { std::slice::from_raw_parts_mut(cp.0.add(r * ldc + c0), c1 - c0) };
            if beta == 0.0 {
                dst.fill(0.0);
            }
            for p in 0..parts {
                let part = &partials_ref[(p * m + r) * n + c0..(p * m + r) * n + c1];
                dst.iter_mut().zip(part).for_each(|(d, x)| *d += *x);
            }
        }
    };
    // A few rows of partials (a batch-1 step's products) are summed here rather than handed to the pool: a
    // parallel pass would cost more to start and join than the sums take.
    if parts * m * n <= 64 * 1024 {
        (0..n.div_ceil(block)).for_each(reduce);
    } else {
        (0..n.div_ceil(block)).into_par_iter().for_each(reduce);
    }
    PARTIALS.set(partials);
}

/// Columns of C per task of [`a_b_by_columns`].
const FIXED_COLS: usize = 256;

/// [`a_b_by_runs`] without its partial sums, for when they cannot be allocated: the same runs summed the same way
/// and added to C in the same order, so the same floats, but each task takes a block of columns through every run
/// in turn, with one run's partial sums in a fixed buffer on its stack. Slower (each task reads a short piece of
/// every row of B, and with `Update` each run is handed over after the whole product instead of while in cache).
#[allow(clippy::too_many_arguments)]
fn a_b_by_columns(m: usize, k: usize, n: usize, a: &[f32], lda: usize, b: RowsOfB, beta: f32, cp: SendPtr, ldc: usize) {
    let parts = k.div_ceil(TERMS_PER_PART);
    let (rows_of_b, ldb) = match b {
        RowsOfB::Read(b, ldb) => (b, ldb),
        // SAFETY: B holds k rows n apart (checked by the caller), only read until the handoff below.
        RowsOfB::Update(b, _) => (unsafe { std::slice::from_raw_parts(b.get(), k * n) } as &[f32], n),
    };
    (0..n.div_ceil(FIXED_COLS)).into_par_iter().for_each(|bi| {
        let (c0, c1) = (bi * FIXED_COLS, ((bi + 1) * FIXED_COLS).min(n));
        let w = c1 - c0;
        let mut sums = [0.0f32; 4 * FIXED_COLS];
        for r0 in (0..m).step_by(4) {
            let rows = (m - r0).min(4);
            for r in 0..rows {
                // SAFETY: columns c0..c1 of row r0 + r belong to this task only, inside C (checked by the callers).
                let dst = unsafe { std::slice::from_raw_parts_mut(cp.get().add((r0 + r) * ldc + c0), w) };
                if beta == 0.0 {
                    dst.fill(0.0);
                }
            }
            for p in 0..parts {
                let (i0, i1) = (p * TERMS_PER_PART, ((p + 1) * TERMS_PER_PART).min(k));
                let out = SendPtr::new(&mut sums[..rows * w]);
                // SAFETY: `sums` holds rows × w floats at row stride w; the run's rows of A and B lie inside them.
                unsafe { a_b_task(rows, i1 - i0, &a[r0 * lda + i0..], lda, &rows_of_b[i0 * ldb + c0..], ldb, 0.0, out, w, 0, w) };
                for r in 0..rows {
                    // SAFETY: as above.
                    let dst = unsafe { std::slice::from_raw_parts_mut(cp.get().add((r0 + r) * ldc + c0), w) };
                    dst.iter_mut().zip(&sums[r * w..(r + 1) * w]).for_each(|(d, x)| *d += *x);
                }
            }
        }
    });
    if let RowsOfB::Update(b, after) = b {
        (0..parts).into_par_iter().for_each(|p| {
            let (i0, i1) = (p * TERMS_PER_PART, ((p + 1) * TERMS_PER_PART).min(k));
            // SAFETY: the runs are disjoint rows of B, which the product no longer reads.
            after(i0, unsafe { std::slice::from_raw_parts_mut(b.get().add(i0 * n), (i1 - i0) * n) });
        });
    }
}

/// Rows `j0..j1` of `C = β·C + Gᵀ·X`.
///
/// # Safety
/// C's rows j0..j1 (n floats each, `ldc` apart) are inside its allocation, and no other thread touches them
/// meanwhile.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn gt_x_block<M: MulAdd>(k: usize, n: usize, g: &[f32], ldg: usize, x: &[f32], ldx: usize, beta: f32, c: SendPtr, ldc: usize, j0: usize, j1: usize) {
    assert!(k == 0 || (k - 1) * ldx + n <= x.len());
    for j in j0..j1 {
        // SAFETY: the caller's contract.
        let dst = unsafe { std::slice::from_raw_parts_mut(c.0.add(j * ldc), n) };
        if beta == 0.0 {
            dst.fill(0.0);
        }
        // SAFETY: row t of X holds n floats from t·ldx (asserted above), and X is only read.
        unsafe { combine_rows::<M>(|t| g[t * ldg + j], |t| x[t * ldx..].as_ptr(), k, dst) };
    }
}
dispatch!(
    /// [`gt_x_block`] at the active SIMD level.
    ///
    /// # Safety
    /// As [`gt_x_block`].
    unsafe fn gt_x_task(k: usize, n: usize, g: &[f32], ldg: usize, x: &[f32], ldx: usize, beta: f32, c: SendPtr, ldc: usize, j0: usize, j1: usize) => gt_x_block
);

/// `C[j, :] = β·C[j, :] + Σ_t G[t, j]·X[t, :]` (C = Gᵀ·X, a rank-k update) with G `[k, m]` and X `[k, n]`
/// row-major: parallel over rows j of C. `beta` is 0 or 1.
///
/// # Panics
/// If a view exceeds its slice, or C's rows overlap (`ldc < n` with m > 1).
#[allow(clippy::too_many_arguments)]
pub fn par_gemm_gt_x(m: usize, k: usize, n: usize, g: &[f32], ldg: usize, x: &[f32], ldx: usize, beta: f32, c: &mut [f32], ldc: usize) {
    assert!(k == 0 || (k - 1) * ldg + m <= g.len());
    assert!(k == 0 || (k - 1) * ldx + n <= x.len());
    check_c(m, n, c, ldc);
    let rows_per_task = m.div_ceil(rayon::current_num_threads() * 4).max(1);
    let cp = SendPtr::new(c);
    // SAFETY: each task owns its rows of C, which cannot overlap and lie inside C (checked above).
    (0..m.div_ceil(rows_per_task))
        .into_par_iter()
        .for_each(|bi| unsafe { gt_x_task(k, n, g, ldg, x, ldx, beta, cp, ldc, bi * rows_per_task, ((bi + 1) * rows_per_task).min(m)) });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(len: usize, seed: u32) -> Vec<f32> {
        (0..len as u32).map(|i| (i.wrapping_mul(2_654_435_761).wrapping_add(seed.wrapping_mul(40_503)) >> 8) as f32 / (1 << 24) as f32 - 0.5).collect()
    }

    /// The fallback of `a_b_by_runs` when its partial sums cannot be allocated gives the same floats in C, and
    /// hands every run of B over once, after the product has read it.
    #[test]
    fn sums_in_fixed_memory_are_the_same_floats() {
        for (m, k, n, beta) in [(1, 300, 600, 0.0), (3, 1000, 257, 1.0), (4, 129, 5, 0.0), (2, 640, 1, 1.0)] {
            let (lda, ldc) = (k + 3, n + 2);
            let (a, b, c) = (values(m * lda, 1), values(k * n, 2), values(m * ldc, 3));
            let (mut runs, mut fixed) = (c.clone(), c.clone());
            a_b_by_runs(m, k, n, &a, lda, RowsOfB::Read(&b, n), beta, &mut runs, ldc);
            a_b_by_columns(m, k, n, &a, lda, RowsOfB::Read(&b, n), beta, SendPtr::new(&mut fixed), ldc);
            assert_eq!(runs.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), fixed.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), "{m}x{k}x{n}");

            let handoff = |i0: usize, rows: &mut [f32]| rows.iter_mut().enumerate().for_each(|(j, v)| *v = *v * 2.0 + (i0 * n + j) as f32);
            let (mut b_runs, mut b_fixed) = (b.clone(), b.clone());
            let (mut runs, mut fixed) = (c.clone(), c.clone());
            a_b_by_runs(m, k, n, &a, lda, RowsOfB::Update(SendPtr::new(&mut b_runs), &handoff), beta, &mut runs, ldc);
            a_b_by_columns(m, k, n, &a, lda, RowsOfB::Update(SendPtr::new(&mut b_fixed), &handoff), beta, SendPtr::new(&mut fixed), ldc);
            assert_eq!(runs.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), fixed.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), "{m}x{k}x{n}");
            let handed: Vec<f32> = b.iter().enumerate().map(|(j, v)| v * 2.0 + j as f32).collect();
            assert_eq!(b_fixed, handed, "{m}x{k}x{n}: every run handed over once");
            assert_eq!(b_runs, handed);
        }
    }
}
