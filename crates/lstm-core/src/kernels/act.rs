//! Element-wise nonlinearities. The fast versions are branch-free polynomial approximations written so LLVM
//! vectorises them over whole gate rows, with a relative error of a few ulp over the whole range (the figures are
//! on each function, measured by `tests/activations.rs` over 23.6 million arguments, every 199th float32 (tiny and
//! subnormal ones included) and a dense grid on [-10, 10], at the scalar and avx2 levels; the AVX-512 versions run
//! the same test at that level). The reference versions call the standard library.

use super::simd::{dispatch, MulAdd};

/// The argument range of [`exp_fast`]: e^x stays a normal float32 inside it.
const EXP_MIN: f32 = -87.3;
const EXP_MAX: f32 = 88.7;
/// ln 2 split in two parts so that n·ln2 is subtracted without rounding error (Cody-Waite).
const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;
/// Minimax polynomial for e^r on [-ln2/2, ln2/2] (Cephes expf), highest degree first: p(r)·r² + r + 1.
const EXP_POLY: [f32; 6] = [1.987_569_1e-4, 1.398_199_9e-3, 8.333_452e-3, 4.166_579_6e-2, 1.666_666_5e-1, 5e-1];

/// e^x = 2^n·e^r with r = x − n·ln2 in [−ln2/2, ln2/2], as (e^r − 1, 2^n): e^r − 1 = p(r)·r² + r keeps r's precision,
/// which [`expm1_fast`] needs and [`exp_fast`] rounds away by adding 1.
#[inline(always)]
fn exp_parts(x: f32) -> (f32, f32) {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    // Round to nearest by adding and subtracting 1.5·2^23: unlike `f32::round` (a libm call on baseline x86-64),
    // this stays inline and vectorises.
    const ROUNDER: f32 = 12_582_912.0;
    let x = x.clamp(EXP_MIN, EXP_MAX);
    let n = (x * LOG2E + ROUNDER) - ROUNDER;
    let r = x - n * LN2_HI - n * LN2_LO;
    let mut p = EXP_POLY[0];
    for c in &EXP_POLY[1..] {
        p = p * r + c;
    }
    // Scale by 2^n through the exponent bits. n + 127 lies in [1, 255]; adding 2^23 puts it in the low mantissa
    // bits, which avoids `as i32` (a saturating conversion that LLVM does not vectorise).
    let biased = (n + (127.0 + 8_388_608.0)).to_bits() & 0xff;
    (p * r * r + r, f32::from_bits(biased << 23))
}

/// e^x for x in about [-87, 88], relative error < 3e-7.
/// Measured: at most 0.98 ulp on [-87.3, 88.37] (the results that are normal floats); 0 to 1.2e-38 below
/// −87.3; ∞ from about x = 88.38, where 2^n leaves the exponent range (e^x itself overflows from 88.72).
#[inline(always)]
pub fn exp_fast(x: f32) -> f32 {
    let (em1, scale) = exp_parts(x);
    (em1 + 1.0) * scale
}

/// σ(x) = 1/(1 + e^{−x}). Measured: at most 2.32 ulp (bound tested: 3) wherever σ(x) is a normal float (x ≥ −87.3); below,
/// where σ is subnormal, the result is within 2^-126 (it reaches 0 from about x = −88.38).
#[inline(always)]
pub fn sigmoid_fast(x: f32) -> f32 {
    1.0 / (1.0 + exp_fast(-x))
}

/// e^x − 1 for x in about [-87, 88], with a relative error of a few ulp down to x → 0, where e^x − 1 computed as
/// `exp_fast(x) − 1` would cancel: e^x − 1 = 2^n·(e^r − 1) + (2^n − 1), and for n ≠ 0, |x| > ln2/2, so the sum does
/// not cancel.
#[inline(always)]
pub fn expm1_fast(x: f32) -> f32 {
    let (em1, s) = exp_parts(x);
    em1 * s + (s - 1.0)
}

/// Beyond this |x|, tanh x rounds to ±1 in float32 (1 − tanh 9 ≈ 3e-8 < 2^-25); clamping there keeps e^{2|x|} − 1
/// finite, so the quotient below never becomes ∞/∞.
const TANH_SATURATES: f32 = 9.0;

/// tanh x = (e^{2x} − 1)/(e^{2x} + 1) = e/(e + 2) with e = e^{2|x|} − 1 from [`expm1_fast`], then x's sign.
/// Measured: at most 2.40 ulp (bound tested: 3) over the whole range, tiny and subnormal x included (where it returns x,
/// as tanh rounds to x). The form `1 − 2/(e^{2x} + 1)` has an absolute error of about 1e-7, which near 0 is a relative
/// error up to 1e-4 (20 million ulp at x = 4e-8): small gradients would lose precision that float32 keeps; going
/// through e^x − 1 avoids the cancellation at the cost of one add.
#[inline(always)]
pub fn tanh_fast(x: f32) -> f32 {
    // tanh |x|, then x's sign: odd to the bit, and tanh(−0) = −0.
    // A comparison rather than `f32::min`, which would turn NaN into 9.
    let a = x.abs();
    let a = if a > TANH_SATURATES { TANH_SATURATES } else { a };
    let e = expm1_fast(2.0 * a);
    (e / (e + 2.0)).copysign(x)
}

#[inline(always)]
// The activations have no multiply-add to fuse (each level's results are the same); `M` keeps the bodies' shape.
#[allow(clippy::extra_unused_type_parameters)]
fn sigmoid_body<M: MulAdd>(v: &mut [f32]) {
    for x in v {
        *x = sigmoid_fast(*x);
    }
}

#[inline(always)]
#[allow(clippy::extra_unused_type_parameters)]
fn tanh_body<M: MulAdd>(v: &mut [f32]) {
    for x in v {
        *x = tanh_fast(*x);
    }
}

dispatch!(fn sigmoid_vectorised(v: &mut [f32]) => sigmoid_body);
dispatch!(fn tanh_vectorised(v: &mut [f32]) => tanh_body);

/// [`sigmoid_fast`] over a slice, at the active SIMD level (AVX-512 intrinsics, or [`sigmoid_fast`] compiled for
/// AVX2 or for the baseline, which give the same bits).
pub fn sigmoid_in_place(v: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if super::simd::active() == super::simd::SimdLevel::Avx512 {
        // SAFETY: the active level is never above the CPU's, so AVX-512F is present; the pointer covers `v`.
        return unsafe { avx512::sigmoid_in_place(v.as_mut_ptr(), v.len()) };
    }
    sigmoid_vectorised(v)
}

/// [`tanh_fast`] over a slice, at the active SIMD level (as [`sigmoid_in_place`]).
pub fn tanh_in_place(v: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if super::simd::active() == super::simd::SimdLevel::Avx512 {
        // SAFETY: as in `sigmoid_in_place`.
        return unsafe { avx512::tanh_in_place(v.as_mut_ptr(), v.len()) };
    }
    tanh_vectorised(v)
}

pub fn sigmoid_reference(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

pub fn tanh_reference(x: f32) -> f32 {
    x.tanh()
}

#[inline(always)]
fn lstm_cell_forward_body<M: MulAdd>(h: usize, gates: &mut [f32], c_prev: &[f32], c: &mut [f32], hidden: &mut [f32]) {
    let (ifg, o) = gates.split_at_mut(3 * h);
    let (if_, g) = ifg.split_at_mut(2 * h);
    for v in if_.iter_mut() {
        *v = sigmoid_fast(*v);
    }
    for v in g.iter_mut() {
        *v = tanh_fast(*v);
    }
    for v in o.iter_mut() {
        *v = sigmoid_fast(*v);
    }
    let (i, f) = if_.split_at(h);
    let (c_prev, c, hidden, g, o) = (&c_prev[..h], &mut c[..h], &mut hidden[..h], &g[..h], &o[..h]);
    for j in 0..h {
        let cj = M::mul_add(f[j], c_prev[j], i[j] * g[j]);
        c[j] = cj;
        hidden[j] = o[j] * tanh_fast(cj);
    }
}

dispatch!(
    fn lstm_cell_forward_vectorised(h: usize, gates: &mut [f32], c_prev: &[f32], c: &mut [f32], hidden: &mut [f32]) => lstm_cell_forward_body
);

/// One LSTM cell step for one sample, fused: `gates` holds the pre-activations (i, f, g, o blocks of `h`)
/// and is overwritten with the activations; writes the new cell and hidden state.
pub fn lstm_cell_forward(h: usize, gates: &mut [f32], c_prev: &[f32], c: &mut [f32], hidden: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if super::simd::active() == super::simd::SimdLevel::Avx512 {
        assert!(gates.len() >= 4 * h && c_prev.len() >= h && c.len() >= h && hidden.len() >= h, "lstm_cell_forward: short slices");
        // SAFETY: the CPU has AVX-512 (the active level is never above it) and every slice holds what the kernel
        // reads or writes (asserted).
        return unsafe { avx512::lstm_cell_forward(h, gates.as_mut_ptr(), c_prev.as_ptr(), c.as_mut_ptr(), hidden.as_mut_ptr()) };
    }
    lstm_cell_forward_vectorised(h, gates, c_prev, c, hidden)
}

/// Reference for [`lstm_cell_forward`], with the standard library's functions.
pub fn lstm_cell_forward_reference(h: usize, gates: &mut [f32], c_prev: &[f32], c: &mut [f32], hidden: &mut [f32]) {
    for j in 0..h {
        let i = sigmoid_reference(gates[j]);
        let f = sigmoid_reference(gates[h + j]);
        let g = tanh_reference(gates[2 * h + j]);
        let o = sigmoid_reference(gates[3 * h + j]);
        gates[j] = i;
        gates[h + j] = f;
        gates[2 * h + j] = g;
        gates[3 * h + j] = o;
        c[j] = f * c_prev[j] + i * g;
        hidden[j] = o * tanh_reference(c[j]);
    }
}

#[inline(always)]
// Its products have no addend to fuse; `M` keeps the bodies' shape.
#[allow(clippy::extra_unused_type_parameters)]
fn lstm_cell_backward_body<M: MulAdd>(h: usize, gates: &[f32], c_prev: &[f32], c: &[f32], dh: &[f32], dc: &mut [f32], dgates: &mut [f32]) {
    let (i, rest) = gates.split_at(h);
    let (f, rest) = rest.split_at(h);
    let (g, o) = rest.split_at(h);
    let (di, rest) = dgates.split_at_mut(h);
    let (df, rest) = rest.split_at_mut(h);
    let (dg, do_) = rest.split_at_mut(h);
    // Slices of exactly h let LLVM drop the bounds checks and vectorise the loop.
    let (c_prev, c, dh, dc, o, dg, do_) = (&c_prev[..h], &c[..h], &dh[..h], &mut dc[..h], &o[..h], &mut dg[..h], &mut do_[..h]);
    for j in 0..h {
        let tc = tanh_fast(c[j]);
        let dcj = dc[j] + dh[j] * o[j] * (1.0 - tc * tc);
        do_[j] = flush_tiny(dh[j] * tc * o[j] * (1.0 - o[j]));
        di[j] = flush_tiny(dcj * g[j] * i[j] * (1.0 - i[j]));
        df[j] = flush_tiny(dcj * c_prev[j] * f[j] * (1.0 - f[j]));
        dg[j] = flush_tiny(dcj * i[j] * (1.0 - g[j] * g[j]));
        dc[j] = flush_tiny(dcj * f[j]);
    }
}

dispatch!(
    fn lstm_cell_backward_vectorised(h: usize, gates: &[f32], c_prev: &[f32], c: &[f32], dh: &[f32], dc: &mut [f32], dgates: &mut [f32]) => lstm_cell_backward_body
);

/// Backward of one cell step for one sample. Inputs: the activated gates, c_prev and c, the gradient `dh` reaching
/// h and `dc` reaching c from the next step. Writes the pre-activation gate gradients into `dgates` and replaces
/// `dc` with the gradient reaching c_prev.
pub fn lstm_cell_backward(h: usize, gates: &[f32], c_prev: &[f32], c: &[f32], dh: &[f32], dc: &mut [f32], dgates: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if super::simd::active() == super::simd::SimdLevel::Avx512 {
        assert!(
            gates.len() >= 4 * h && c_prev.len() >= h && c.len() >= h && dh.len() >= h && dc.len() >= h && dgates.len() >= 4 * h,
            "lstm_cell_backward: short slices"
        );
        // SAFETY: the CPU has AVX-512 (the active level is never above it) and every slice holds what the kernel
        // reads or writes (asserted).
        return unsafe { avx512::lstm_cell_backward(h, gates.as_ptr(), c_prev.as_ptr(), c.as_ptr(), dh.as_ptr(), dc.as_mut_ptr(), dgates.as_mut_ptr()) };
    }
    lstm_cell_backward_vectorised(h, gates, c_prev, c, dh, dc, dgates)
}

/// Gradients smaller than this are set to zero in the LSTM backward pass.
///
/// Backpropagating through many steps shrinks the carried gradient geometrically (×f per step through the cell,
/// ×σ'·W through h), so over long sequences it reaches the float32 subnormals (< 1.2e-38), where x86 arithmetic
/// takes a microcode assist on every operation: at the IMDB shape (T = 200) 12% of the gate gradients were subnormal
/// and backward ran 10-25× slower than forward (2.5 s instead of ~0.1 s). Flushing at 1e-30 keeps every carried
/// value and every product with a weight in the normal range; a gradient of 1e-30 is ~26 orders of magnitude below
/// anything it is summed with, so no result changes in practice. (Flush-to-zero CPU modes are not an option from
/// safe Rust, and would not cover the products inside the GEMMs.)
pub const GRAD_FLUSH: f32 = 1e-30;

#[inline(always)]
pub(crate) fn flush_tiny(v: f32) -> f32 {
    if v.abs() < GRAD_FLUSH {
        0.0
    } else {
        v
    }
}

/// The cell written with AVX-512 intrinsics: the same formulas as the generic bodies, with `exp` scaled by
/// `vscalefps` and each reciprocal `1/d` as `vrcp14ps` refined by one Newton step (relative error about 2^-28,
/// below float32's 2^-24) instead of a division, which LLVM's vectorised bodies issue once per 16 values and which
/// was half the cell's time. The golden and cell-vs-reference tests bound the difference.
#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::{EXP_MAX, EXP_MIN, EXP_POLY, GRAD_FLUSH, LN2_HI, LN2_LO};
    use std::arch::x86_64::*;

    /// Below this |x|, [`tanh16`] takes its odd polynomial; above it, `1 − 2/(e^{2|x|} + 1)`, whose relative error
    /// there (|tanh| ≥ 0.55) is at most about that of exp.
    const TANH_POLY_MAX: f32 = 0.625;
    /// tanh x = x + x³·P(x²) on |x| < 0.625: P is the degree-4 minimax polynomial of (tanh x − x)/x³ in y = x² on
    /// [0, 0.390625] for relative error (1.3e-7), highest degree first, found by a Remez exchange in 40-digit
    /// arithmetic. The x³·P term is at most 13% of x, so P's error reaches tanh scaled down to 1.7e-8 (0.3 ulp).
    const TANH_POLY: [f32; 5] = [-6.096_941_5e-3, 2.099_735_8e-2, -5.385_095_3e-2, 1.333_277e-1, -3.333_332_9e-1];

    const W: usize = 16;

    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn splat(v: f32) -> __m512 {
        _mm512_set1_ps(v)
    }

    /// e^x, the polynomial of [`super::exp_fast`].
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn exp16(x: __m512) -> __m512 {
        let x = _mm512_min_ps(_mm512_max_ps(x, splat(EXP_MIN)), splat(EXP_MAX));
        let n = _mm512_roundscale_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(_mm512_mul_ps(x, splat(std::f32::consts::LOG2_E)));
        let r = _mm512_fnmadd_ps(n, splat(LN2_LO), _mm512_fnmadd_ps(n, splat(LN2_HI), x));
        let mut p = splat(EXP_POLY[0]);
        for &coef in &EXP_POLY[1..] {
            p = _mm512_fmadd_ps(p, r, splat(coef));
        }
        p = _mm512_add_ps(_mm512_fmadd_ps(p, _mm512_mul_ps(r, r), r), splat(1.0));
        _mm512_scalef_ps(p, n)
    }

    /// 1/d for d ≥ 1.
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn recip(d: __m512) -> __m512 {
        let r = _mm512_rcp14_ps(d);
        _mm512_fmadd_ps(r, _mm512_fnmadd_ps(d, r, splat(1.0)), r)
    }

    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn sigmoid16(x: __m512) -> __m512 {
        recip(_mm512_add_ps(splat(1.0), exp16(_mm512_sub_ps(_mm512_setzero_ps(), x))))
    }

    /// tanh x, to the same bound as [`super::tanh_fast`] by another route: ±(|x| + |x|³·P(x²)) for |x| < 0.625, else
    /// ±(1 − 2/(e^{2|x|} + 1)), both computed and one kept by a mask (a blend costs AVX-512 one instruction).
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn tanh16(x: __m512) -> __m512 {
        let sign = _mm512_set1_epi32(i32::MIN);
        let bits = _mm512_castps_si512(x);
        let a = _mm512_castsi512_ps(_mm512_andnot_si512(sign, bits));
        let y = _mm512_mul_ps(a, a);
        let mut p = splat(TANH_POLY[0]);
        for &coef in &TANH_POLY[1..] {
            p = _mm512_fmadd_ps(p, y, splat(coef));
        }
        let near_zero = _mm512_fmadd_ps(_mm512_mul_ps(a, y), p, a);
        let far = _mm512_fnmadd_ps(splat(2.0), recip(_mm512_add_ps(exp16(_mm512_add_ps(a, a)), splat(1.0))), splat(1.0));
        // `not ≥` rather than `<`: a NaN takes the polynomial, which keeps it (exp16 clamps its argument, so the
        // other form would turn a NaN into a number).
        let t = _mm512_mask_blend_ps(_mm512_cmp_ps_mask::<_CMP_NGE_UQ>(a, splat(TANH_POLY_MAX)), far, near_zero);
        // tanh |x| with x's sign.
        _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(t), _mm512_and_si512(sign, bits)))
    }

    /// Zero where |v| < GRAD_FLUSH (NaN kept, as `flush_tiny` keeps it).
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn flush(v: __m512) -> __m512 {
        _mm512_maskz_mov_ps(_mm512_cmp_ps_mask::<_CMP_NLT_UQ>(_mm512_abs_ps(v), splat(GRAD_FLUSH)), v)
    }

    #[inline]
    fn lanes(h: usize, j: usize) -> __mmask16 {
        if j + W <= h {
            0xffff
        } else {
            ((1u32 << (h - j)) - 1) as u16
        }
    }

    /// σ over the `len` floats at `v`, 16 at a time.
    ///
    /// # Safety
    /// The CPU has AVX-512F, and `v` points at `len` floats that nothing else touches meanwhile.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn sigmoid_in_place(v: *mut f32, len: usize) {
        for j in (0..len).step_by(W) {
            let m = lanes(len, j);
            _mm512_mask_storeu_ps(v.add(j), m, sigmoid16(_mm512_maskz_loadu_ps(m, v.add(j))));
        }
    }

    /// tanh over the `len` floats at `v`, 16 at a time.
    ///
    /// # Safety
    /// As [`sigmoid_in_place`].
    #[target_feature(enable = "avx512f")]
    pub unsafe fn tanh_in_place(v: *mut f32, len: usize) {
        for j in (0..len).step_by(W) {
            let m = lanes(len, j);
            _mm512_mask_storeu_ps(v.add(j), m, tanh16(_mm512_maskz_loadu_ps(m, v.add(j))));
        }
    }

    /// # Safety
    /// The CPU has AVX-512F; `gates` holds 4h floats, the others h, and nothing else touches them meanwhile.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn lstm_cell_forward(h: usize, gates: *mut f32, c_prev: *const f32, c: *mut f32, hidden: *mut f32) {
        for j in (0..h).step_by(W) {
            let m = lanes(h, j);
            let at = |k: usize| gates.add(k * h + j);
            let i = sigmoid16(_mm512_maskz_loadu_ps(m, at(0)));
            let f = sigmoid16(_mm512_maskz_loadu_ps(m, at(1)));
            let g = tanh16(_mm512_maskz_loadu_ps(m, at(2)));
            let o = sigmoid16(_mm512_maskz_loadu_ps(m, at(3)));
            for (k, v) in [i, f, g, o].into_iter().enumerate() {
                _mm512_mask_storeu_ps(at(k), m, v);
            }
            let cj = _mm512_fmadd_ps(f, _mm512_maskz_loadu_ps(m, c_prev.add(j)), _mm512_mul_ps(i, g));
            _mm512_mask_storeu_ps(c.add(j), m, cj);
            _mm512_mask_storeu_ps(hidden.add(j), m, _mm512_mul_ps(o, tanh16(cj)));
        }
    }

    /// # Safety
    /// The CPU has AVX-512F; `gates` and `dgates` hold 4h floats, the others h, and nothing else touches the
    /// outputs meanwhile.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn lstm_cell_backward(h: usize, gates: *const f32, c_prev: *const f32, c: *const f32, dh: *const f32, dc: *mut f32, dgates: *mut f32) {
        let one = splat(1.0);
        for j in (0..h).step_by(W) {
            let m = lanes(h, j);
            let load = |p: *const f32| _mm512_maskz_loadu_ps(m, p.add(j));
            let (i, f, g, o) = (load(gates), load(gates.add(h)), load(gates.add(2 * h)), load(gates.add(3 * h)));
            let (dhj, dcj_in) = (load(dh), load(dc));
            let tc = tanh16(load(c));
            // dc_t = dc + dh·o·(1 − tanh²c)
            let dcj = _mm512_fmadd_ps(_mm512_mul_ps(dhj, o), _mm512_fnmadd_ps(tc, tc, one), dcj_in);
            let d_o = _mm512_mul_ps(_mm512_mul_ps(_mm512_mul_ps(dhj, tc), o), _mm512_sub_ps(one, o));
            let d_i = _mm512_mul_ps(_mm512_mul_ps(_mm512_mul_ps(dcj, g), i), _mm512_sub_ps(one, i));
            let d_f = _mm512_mul_ps(_mm512_mul_ps(_mm512_mul_ps(dcj, load(c_prev)), f), _mm512_sub_ps(one, f));
            let d_g = _mm512_mul_ps(_mm512_mul_ps(dcj, i), _mm512_fnmadd_ps(g, g, one));
            for (k, v) in [d_i, d_f, d_g, d_o].into_iter().enumerate() {
                _mm512_mask_storeu_ps(dgates.add(k * h + j), m, flush(v));
            }
            _mm512_mask_storeu_ps(dc.add(j), m, flush(_mm512_mul_ps(dcj, f)));
        }
    }
}
