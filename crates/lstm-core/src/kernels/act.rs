//! Element-wise nonlinearities. The fast versions are branch-free polynomial approximations written so LLVM
//! vectorises them over whole gate rows; their error (about 2 ulp) is far inside the golden tolerance.
//! The reference versions call the standard library.

use super::simd::{dispatch, MulAdd};

/// e^x for x in about [-87, 88], relative error < 3e-7.
#[inline(always)]
pub fn exp_fast(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    // ln 2 split in two parts so that n·ln2 is subtracted without rounding error (Cody-Waite).
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // Round to nearest by adding and subtracting 1.5·2^23: unlike `f32::round` (a libm call on baseline x86-64),
    // this stays inline and vectorises.
    const ROUNDER: f32 = 12_582_912.0;
    let x = x.clamp(-87.3, 88.7);
    let n = (x * LOG2E + ROUNDER) - ROUNDER;
    let r = x - n * LN2_HI - n * LN2_LO;
    // Minimax polynomial for e^r on [-ln2/2, ln2/2] (Cephes expf).
    let mut p = 1.987_569_1e-4f32;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 5.000_000_1e-1;
    p = p * r * r + r + 1.0;
    // Scale by 2^n through the exponent bits. n + 127 lies in [1, 255]; adding 2^23 puts it in the low mantissa
    // bits, which avoids `as i32` (a saturating conversion that LLVM does not vectorise).
    let biased = (n + (127.0 + 8_388_608.0)).to_bits() & 0xff;
    p * f32::from_bits(biased << 23)
}

#[inline(always)]
pub fn sigmoid_fast(x: f32) -> f32 {
    1.0 / (1.0 + exp_fast(-x))
}

#[inline(always)]
pub fn tanh_fast(x: f32) -> f32 {
    // tanh x = 1 - 2/(e^{2x} + 1): no cancellation for large |x|; near 0 the absolute error stays ~1e-7.
    1.0 - 2.0 / (exp_fast(2.0 * x) + 1.0)
}

pub fn sigmoid_in_place(v: &mut [f32]) {
    for x in v {
        *x = sigmoid_fast(*x);
    }
}

pub fn tanh_in_place(v: &mut [f32]) {
    for x in v {
        *x = tanh_fast(*x);
    }
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
    /// One LSTM cell step for one sample, fused: `gates` holds the pre-activations (i, f, g, o blocks of `h`)
    /// and is overwritten with the activations; writes the new cell and hidden state.
    pub fn lstm_cell_forward(h: usize, gates: &mut [f32], c_prev: &[f32], c: &mut [f32], hidden: &mut [f32]) => lstm_cell_forward_body
);

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
    /// Backward of one cell step for one sample. Inputs: the activated gates, c_prev and c, the gradient `dh` reaching
    /// h and `dc` reaching c from the next step. Writes the pre-activation gate gradients into `dgates` and replaces
    /// `dc` with the gradient reaching c_prev.
    pub fn lstm_cell_backward(h: usize, gates: &[f32], c_prev: &[f32], c: &[f32], dh: &[f32], dc: &mut [f32], dgates: &mut [f32]) => lstm_cell_backward_body
);

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
fn flush_tiny(v: f32) -> f32 {
    if v.abs() < GRAD_FLUSH {
        0.0
    } else {
        v
    }
}
