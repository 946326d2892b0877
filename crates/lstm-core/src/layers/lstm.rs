//! LSTM, one direction at a time. Gates i, f, g, o (PyTorch order):
//!   gates_t = x_t·W_ihᵀ + b_ih + h_{t-1}·W_hhᵀ + b_hh
//!   c_t = σ(f)⊙c_{t-1} + σ(i)⊙tanh(g),   h_t = σ(o)⊙tanh(c_t)
//!
//! Speed by design:
//! - the input projection is computed outside the recurrence, for many rows at once: one GEMM over a block's B·T
//!   rows, or, with the packed kernel, a window of 8 steps at a time just before the loop reaches them (so those
//!   gates are still in L2); only the recurrent product runs per step;
//! - samples are independent along time, so each thread runs the whole time loop for its block of samples, with no
//!   synchronisation between steps;
//! - the weight gradients of all steps are formed after the loop, one GEMM each (gate by gate with per-gate masks;
//!   with the packed kernel, one product `dgatesᵀ·[x h_prev 1]` gives dW_ih, dW_hh and the bias gradient together),
//!   or, for a step over at most `SMALL` rows, left as low-rank factors for the optimizer (`optim::LowRankGrad`);
//! - every buffer is sized before the loop: nothing allocates inside it.
//!
//! Keras semantics for `maskZero`: a masked step keeps h and c, so the state output repeats the previous one.
//! Dropout follows Keras: masks are drawn once per sequence and kept across steps. Without recurrent dropout the
//! four gates share one input mask `[B,I]`; with it, each gate has its own input and recurrent masks, `[B,4,I]` and
//! `[B,4,H]` (Keras 3's LSTM cell then runs its per-gate `implementation=1`), and reads its own masked copy of x_t
//! and h_{t-1}: the products then run gate by gate.

use super::{checked_mul, room_all, state_buffer, steps, Backward, Built, FeatureShape, Forward, Layer, MaskOut, ParamSpec, RecurrentState};
use crate::config::LstmConfig;
use crate::error::{LstmError, Result};
use crate::kernels::act::{lstm_cell_backward, lstm_cell_forward};
use crate::kernels::gemm::{gemm, par_col_sums_add, par_gemm, Mat, Strides, SMALL};
use crate::kernels::packed::{self, gemm_packed, gemm_packed_at, gemm_packed_batch_bias, PackedB};
use crate::kernels::SendPtr;
use crate::model::ActShape;
use crate::optim::{LowRankGrad, TensorUpdate};
use crate::rng::{self, CounterKey};
use rayon::prelude::*;
use std::cell::RefCell;
use std::ops::Range;

#[derive(Clone, Copy, Debug)]
pub struct LstmDims {
    pub b: usize,
    pub t: usize,
    /// Input features.
    pub i: usize,
    /// Hidden units.
    pub h: usize,
}

/// One direction's parameters, PyTorch layouts.
#[derive(Clone, Copy)]
pub struct LstmParams<'a> {
    pub w_ih: &'a [f32], // [4H,I]
    pub w_hh: &'a [f32], // [4H,H]
    pub b_ih: &'a [f32], // [4H]
    pub b_hh: &'a [f32], // [4H]
}

/// Where backward adds the gradients. A weight gradient given as `None` is not formed here: the optimizer forms it
/// from `dgates` and the inputs (`optim::LowRankGrad`).
pub struct LstmGrads<'a> {
    pub dw_ih: Option<&'a mut [f32]>,
    pub dw_hh: Option<&'a mut [f32]>,
    pub db_ih: &'a mut [f32],
    pub db_hh: &'a mut [f32],
}

/// Weight updates that backward applies itself, each in the pass of the weight's last product, so the update does
/// not read the weight again (`optim::TensorUpdate`). Which ones are possible: [`inline_updates_possible`].
pub struct InlineUpdates<'a> {
    /// W_hh `[4H,H]` and its update, done in the product at step 1, where its gradient is complete (h₋₁ = 0).
    pub w_hh: Option<InlineWeight<'a>>,
    /// W_ih `[4H,I]` and its update, done in the product for dx.
    pub w_ih: Option<InlineWeight<'a>>,
}

/// A weight and the update backward applies to it.
pub type InlineWeight<'a> = (&'a mut [f32], TensorUpdate<'a>);

/// Whether backward can update (W_hh, W_ih) itself ([`InlineUpdates`]), given that their gradients are left
/// low-rank: W_hh for a single forward sequence of at least two steps with no mask, no dropout and no initial
/// state; W_ih when dx is wanted and there is no input dropout and no packed path.
pub fn inline_updates_possible(dims: LstmDims, reverse: bool, mask: Option<&[u8]>, cache: &LstmCache, dx_wanted: bool) -> (bool, bool) {
    let LstmDims { b, t, .. } = dims;
    let small_batch = b <= SMALL;
    let no_dropout = cache.in_mask.is_empty() && cache.rec_mask.is_empty();
    let hh = b == 1 && t >= 2 && !reverse && mask.is_none() && no_dropout && cache.init_h.is_empty();
    let ih = dx_wanted && small_batch && b * t > 0 && b * t <= SMALL && no_dropout;
    (hh, ih)
}

/// What backward needs from forward, and its scratch, for one direction. Buffers grow once and are reused.
#[derive(Default)]
pub struct LstmCache {
    /// Input after the dropout mask `[B,T,I]`, or `[B,T,4,I]` with per-gate masks; empty without input dropout.
    pub xm: Vec<f32>,
    /// Activated gates `[B,T,4H]`.
    pub gates: Vec<f32>,
    /// Cell state after each step `[B,T,H]`.
    pub c: Vec<f32>,
    /// Hidden state after each step `[B,T,H]` (a masked step repeats the previous state).
    pub h: Vec<f32>,
    /// The recurrent input of each step: the previous h times the recurrent mask `[B,T,H]`, or `[B,T,4,H]` with
    /// per-gate masks (zeros at the first step).
    pub hprev: Vec<f32>,
    /// Initial hidden and cell state `[B,H]` for stateful inference (`Model::predict_step`); empty means zeros.
    /// Backward assumes zeros: training never sets these.
    pub init_h: Vec<f32>,
    pub init_c: Vec<f32>,
    /// Dropout multipliers: `[B,I]` on inputs and `[B,H]` on the recurrent state, or `[B,4,I]` and `[B,4,H]` with
    /// per-gate masks (the recurrent one is then always set); empty when off.
    pub in_mask: Vec<f32>,
    pub rec_mask: Vec<f32>,
    /// Pre-activation gate gradients `[B,T,4H]`.
    pub dgates: Vec<f32>,
    /// Scratch: gradient reaching h and c from the next step `[B,H]` each, and the per-step product `[B,H]`, or
    /// `[B,H+I]` when it also gives dx.
    carry_dh: Vec<f32>,
    carry_dc: Vec<f32>,
    dh_rec: Vec<f32>,
    /// Scratch for dx before the input mask `[B,T,I]`.
    dxm: Vec<f32>,
    /// Scratch for the weight gradients of the packed path, `[4H, I+H+1]`.
    dw_cat: Vec<f32>,
    /// W_hh and W_ih packed once per pass for the products of `kernels::packed`: whole in the first, or one gate's
    /// rows in each with per-gate masks.
    packed_w_hh: [PackedB; 4],
    packed_w_ih: [PackedB; 4],
    /// Inference on token ids behind an embedding ([`FinalInput::Table`]): each token's row of `bias + E[id]·W_ihᵀ`
    /// `[V, 4H]`, and the embedding, W_ih and the two biases it was computed from, one after another, to tell when
    /// the weights have changed (a fit step, `setWeights`, a load) by their bits rather than by every path that
    /// writes weights having to say so.
    table: Vec<f32>,
    table_source: Vec<f32>,
}

/// The copies of x_t (or h_{t-1}) that a dropout mask of `len` floats asks for, `per` floats per copy: 4 with
/// per-gate masks, else 1 (no mask, or one shared by the gates).
pub(super) fn mask_copies(len: usize, per: usize) -> usize {
    if len == 0 || per == 0 {
        1
    } else {
        len / per
    }
}

pub(super) fn sized(v: &mut Vec<f32>, len: usize) -> &mut [f32] {
    v.resize(len, 0.0);
    &mut v[..len]
}

/// Steps whose input projection the packed path computes at once, just before the time loop reaches them.
pub(super) const PROJECTION_WINDOW: usize = 8;

/// Samples per thread block for the time loop. A small batch is one block whose per-step products are split by
/// column instead (see `gemm_step`); the choice depends on the batch size only, so results do not depend on the
/// thread count.
pub(super) fn block_of_samples(b: usize) -> usize {
    if b <= SMALL {
        b
    } else {
        b.div_ceil(rayon::current_num_threads()).max(1)
    }
}

/// A per-step product inside a block: split between the threads by column for a small batch (the block is then the
/// whole batch, run by one task), single-threaded otherwise (each thread already runs its own block).
#[allow(clippy::too_many_arguments)]
pub(super) fn gemm_step(small_batch: bool, m: usize, k: usize, n: usize, a: Mat, b: Mat, beta: f32, c: &mut [f32], cs: Strides) {
    if small_batch {
        par_gemm(m, k, n, 1.0, a, b, beta, c, cs)
    } else {
        gemm(m, k, n, 1.0, a, b, beta, c, cs)
    }
}

/// A per-step product `C = β·C + A·B`, A's rows `lda` apart and C's `ldc` apart: the packed kernel when B was packed
/// for it (`packed`), [`gemm_step`] on the view `b` otherwise.
#[allow(clippy::too_many_arguments)]
pub(super) fn step_product(
    packed: Option<&PackedB>,
    small_batch: bool,
    m: usize,
    k: usize,
    n: usize,
    a: &[f32],
    lda: usize,
    b: Mat,
    beta: f32,
    c: &mut [f32],
    ldc: usize,
) {
    match packed {
        Some(pb) => gemm_packed(m, a, lda, pb, beta, c, ldc),
        None => gemm_step(small_batch, m, k, n, Mat::new(a, Strides::rows(lda)), b, beta, c, Strides::rows(ldc)),
    }
}

/// Where a step's hidden-state gradient comes from.
#[derive(Clone, Copy)]
pub enum OutputGrad<'a> {
    /// dy `[B,T,F]`; this direction's h is columns `offset..offset+H`. With `zero_masked`, masked steps output zeros
    /// (bidirectional) and so receive no gradient.
    Sequence { dy: &'a [f32], features: usize, offset: usize, zero_masked: bool },
    /// dy `[B,F]` reaches only the final state of this direction (t = T-1 forward, t = 0 reversed).
    Last { dy: &'a [f32], features: usize, offset: usize },
}

impl<'a> OutputGrad<'a> {
    /// The output's gradient at sample `b`, time `tt`, processing step `s` of `t` (`None` where the step's output
    /// receives none: a masked step of a bidirectional sequence, or any step but the last for a final state).
    pub(super) fn at(&self, b: usize, t: usize, tt: usize, s: usize, masked: bool, h: usize) -> Option<&'a [f32]> {
        match *self {
            OutputGrad::Sequence { dy, features, offset, zero_masked } if !(zero_masked && masked) => Some(&dy[(b * t + tt) * features + offset..][..h]),
            OutputGrad::Last { dy, features, offset } if s == t - 1 => Some(&dy[b * features + offset..][..h]),
            _ => None,
        }
    }
}

/// Runs one direction over x `[B,T,I]`. `mask[b·T+t] == 0` marks a padded step. The dropout masks must already be
/// in `cache.in_mask` / `cache.rec_mask` (or those be empty).
pub fn lstm_forward(dims: LstmDims, reverse: bool, x: &[f32], mask: Option<&[u8]>, p: LstmParams, cache: &mut LstmCache) {
    let LstmDims { b, t, i, h } = dims;
    let g4 = 4 * h;
    if b == 0 || t == 0 {
        return;
    }
    // Copies of x_t and h_{t-1} per step: 4 (one per gate) with per-gate masks, else 1.
    let (xg, hg) = (mask_copies(cache.in_mask.len(), b * i), mask_copies(cache.rec_mask.len(), b * h));
    let xin = masked_input(dims, xg, x, &cache.in_mask, &mut cache.xm);
    let gates = sized(&mut cache.gates, b * t * g4);
    let cs = sized(&mut cache.c, b * t * h);
    let hs = sized(&mut cache.h, b * t * h);
    let hprev = sized(&mut cache.hprev, b * t * hg * h);
    let rec_mask: &[f32] = &cache.rec_mask;
    let (init_h, init_c): (&[f32], &[f32]) = (&cache.init_h, &cache.init_c);
    let has_init = !init_h.is_empty();
    let bias = summed_bias(&p);
    let zeros = vec![0.0f32; h];

    let nb = block_of_samples(b);
    let small_batch = b <= SMALL;
    // The recurrent weights, packed once for all T steps: B = W_hhᵀ `[H, 4H]`, or each gate's `[H, H]`.
    let packed_w = (!small_batch && t > 1 && packed::available()).then(|| {
        pack_gates(&mut cache.packed_w_hh, hg, h, g4, |r| Mat::new(&p.w_hh[r * h..], Strides::transposed(h)));
        &cache.packed_w_hh
    });
    // And B = W_ihᵀ `[I, 4H]` (or each gate's `[I, H]`) for the input projection (the same kernel as
    // `lstm_forward_final`, so inference and training compute the same outputs bit for bit above SMALL samples; at
    // most SMALL train on the streaming kernels split by column, which a batch-1 step of a wide LSTM needs, and
    // differ from inference in the last bits).
    let packed_wi = (!small_batch && packed::available()).then(|| {
        pack_gates(&mut cache.packed_w_ih, xg, i, g4, |r| Mat::new(&p.w_ih[r * i..], Strides::transposed(i)));
        &cache.packed_w_ih
    });
    gates
        .par_chunks_mut(nb * t * g4)
        .zip(cs.par_chunks_mut(nb * t * h))
        .zip(hs.par_chunks_mut(nb * t * h))
        .zip(hprev.par_chunks_mut(nb * t * hg * h))
        .enumerate()
        .for_each(|(blk, (((gates, cs), hs), hprev))| {
            let b0 = blk * nb;
            let bn = gates.len() / (t * g4);
            let xblk = &xin[b0 * t * xg * i..(b0 + bn) * t * xg * i];
            // Input projection, gates = bias + x·W_ihᵀ (gate by gate, each from its own copy of x, with per-gate
            // masks). With the packed kernel it runs a window of steps at a time, just before they are used, so
            // those gates are still in L2 for the time loop (the kernel's cost per row does not depend on how many
            // rows a call gets). Otherwise, one GEMM for all of the block's rows.
            if packed_wi.is_none() {
                for row in gates.chunks_exact_mut(g4) {
                    row.copy_from_slice(&bias);
                }
                let n = g4 / xg;
                for g in 0..xg {
                    let (a, w) = (Mat::new(&xblk[g * i..], Strides::rows(xg * i)), Mat::new(&p.w_ih[g * n * i..], Strides::transposed(i)));
                    gemm_step(small_batch, bn * t, i, n, a, w, 1.0, &mut gates[g * n..], Strides::rows(g4));
                }
            }
            for s in 0..t {
                let tt = if reverse { t - 1 - s } else { s };
                let tp = if reverse { tt + 1 } else { tt.wrapping_sub(1) };
                if let Some(pw_ih) = packed_wi.filter(|_| s % PROJECTION_WINDOW == 0) {
                    project_window(ProjectionBlock { bn, t, i, xg, reverse }, s, xblk, &pw_ih[..xg], &bias, gates);
                }
                let hw = hg * h;
                if s == 0 && has_init {
                    // Stateful inference: the first step's recurrent input is the carried-over state.
                    for bi in 0..bn {
                        let src = &init_h[(b0 + bi) * h..(b0 + bi + 1) * h];
                        recurrent_input(src, rec_mask, b0 + bi, &mut hprev[(bi * t + tt) * hw..(bi * t + tt + 1) * hw]);
                    }
                }
                if s > 0 || has_init {
                    // gates[:, tt] += hprev[:, tt] · W_hhᵀ over the block's samples (row strides skip time), gate by
                    // gate with per-gate masks.
                    let n = g4 / hg;
                    for g in 0..hg {
                        let w_hh_t = Mat::new(&p.w_hh[g * n * h..], Strides::transposed(h));
                        let pw = packed_w.map(|pw| &pw[g]);
                        step_product(pw, small_batch, bn, h, n, &hprev[(tt * hg + g) * h..], t * hw, w_hh_t, 1.0, &mut gates[tt * g4 + g * n..], t * g4);
                    }
                } else {
                    for bi in 0..bn {
                        hprev[(bi * t + tt) * hw..(bi * t + tt + 1) * hw].fill(0.0);
                    }
                }
                for bi in 0..bn {
                    let row = bi * t + tt;
                    let grow = &mut gates[row * g4..(row + 1) * g4];
                    let masked = mask.is_some_and(|m| m[(b0 + bi) * t + tt] == 0);
                    if s == 0 {
                        let (c, hh) = (&mut cs[row * h..(row + 1) * h], &mut hs[row * h..(row + 1) * h]);
                        let (c_prev, h_prev): (&[f32], &[f32]) =
                            if has_init { (&init_c[(b0 + bi) * h..(b0 + bi + 1) * h], &init_h[(b0 + bi) * h..(b0 + bi + 1) * h]) } else { (&zeros, &zeros) };
                        if masked {
                            c.copy_from_slice(c_prev);
                            hh.copy_from_slice(h_prev);
                        } else {
                            lstm_cell_forward(h, grow, c_prev, c, hh);
                        }
                    } else {
                        let prow = bi * t + tp;
                        let (c, c_prev) = row_pair(cs, h, row, prow);
                        let (hh, h_prev) = row_pair(hs, h, row, prow);
                        if masked {
                            c.copy_from_slice(c_prev);
                            hh.copy_from_slice(h_prev);
                        } else {
                            lstm_cell_forward(h, grow, c_prev, c, hh);
                        }
                    }
                }
                // The next step's recurrent input, through the recurrent dropout mask.
                if s + 1 < t {
                    let tn = if reverse { tt - 1 } else { tt + 1 };
                    for bi in 0..bn {
                        let src = &hs[(bi * t + tt) * h..(bi * t + tt + 1) * h];
                        recurrent_input(src, rec_mask, b0 + bi, &mut hprev[(bi * t + tn) * hw..(bi * t + tn + 1) * hw]);
                    }
                }
            }
        });
}

/// A block's shape as [`project_window`] reads it: `bn` samples of `t` steps of `i` inputs, `xg` copies of each
/// input step (one per gate with per-gate masks), processed in reverse time order when `reverse`.
#[derive(Clone, Copy)]
pub(super) struct ProjectionBlock {
    pub bn: usize,
    pub t: usize,
    pub i: usize,
    pub xg: usize,
    pub reverse: bool,
}

/// The input projection `gates = bias + x·W_ihᵀ` of the [`PROJECTION_WINDOW`] steps from processing step `s`, for
/// each sample of a block (`x` `[bn, t, xg, i]`, `gates` `[bn, t, G·H]`, with G·H = `bias.len()`), one packed product
/// per copy of x (`packs[g]` holds gate g's columns with per-gate masks): run just before the time loop reaches those
/// steps, so their gates are still in L2 there.
pub(super) fn project_window(blk: ProjectionBlock, s: usize, x: &[f32], packs: &[PackedB], bias: &[f32], gates: &mut [f32]) {
    let ProjectionBlock { bn, t, i, xg, reverse } = blk;
    let gw = bias.len();
    // The window's rows of each sample: tw rows of x and of gates, T rows apart from sample to sample.
    let tw = PROJECTION_WINDOW.min(t - s);
    let t_lo = if reverse { t - s - tw } else { s };
    let n = gw / xg;
    for (g, pw) in packs.iter().enumerate() {
        let (a, c) = (&x[(t_lo * xg + g) * i..], &mut gates[t_lo * gw + g * n..]);
        gemm_packed_batch_bias(bn, tw, a, t * xg * i, xg * i, pw, &bias[g * n..], c, t * gw, gw);
    }
}

/// The input as the products read it: `x` itself without input dropout, else `xm` `[B,T,xg,I]` = x ⊙ the sequence's
/// mask, the same mask at every step (one copy per gate with per-gate masks).
pub(super) fn masked_input<'a>(dims: LstmDims, xg: usize, x: &'a [f32], in_mask: &[f32], xm: &'a mut Vec<f32>) -> &'a [f32] {
    let LstmDims { b, t, i, .. } = dims;
    if in_mask.is_empty() {
        return x;
    }
    let xm = sized(xm, b * t * xg * i);
    for bi in 0..b {
        let m = &in_mask[bi * xg * i..(bi + 1) * xg * i];
        for (dst, src) in xm[bi * t * xg * i..(bi + 1) * t * xg * i].chunks_exact_mut(xg * i).zip(x[bi * t * i..(bi + 1) * t * i].chunks_exact(i)) {
            for (dst, m) in dst.chunks_exact_mut(i).zip(m.chunks_exact(i)) {
                dst.iter_mut().zip(src).zip(m).for_each(|((d, s), m)| *d = s * m);
            }
        }
    }
    xm
}

/// Samples run together by [`lstm_forward_final`], and the time steps whose input projection it computes at once:
/// their gates, 32 × 8 × 4H floats, stay in L2.
const FINAL_SAMPLES: usize = 32;
const FINAL_WINDOW: usize = 8;

thread_local! {
    /// Per-thread scratch of [`lstm_forward_final`]: gates of a window, and h and c, current and previous.
    static FINAL_SCRATCH: RefCell<[Vec<f32>; 5]> = RefCell::default();
}

/// Whether [`lstm_forward_final`] can run a batch of `b` samples: at least one, on a CPU with the packed kernel.
/// Above `SMALL` samples it serves every final-state inference pass; at most `SMALL`, only where
/// [`final_only_for_small`] says so.
pub fn final_only_available(b: usize) -> bool {
    b > 0 && packed::available()
}

/// Steps × samples from which a batch of at most `SMALL` samples takes [`lstm_forward_final`]: packing W_hhᵀ for the
/// pass costs about what that many steps of its product cost at one row.
pub const SMALL_FINAL_ROWS: usize = 64;
/// The largest packed W_hhᵀ (bytes) with which a batch of at most `SMALL` samples takes [`lstm_forward_final`]: it
/// must stay in a core's L2 from step to step, as that path runs a small batch on one thread; a wider one streams
/// from L3 each step, where the streaming kernels' split by column over the threads reads half of it per core.
pub const SMALL_FINAL_WEIGHT_BYTES: usize = 512 * 1024;

/// Whether a final-state inference pass of `b ≤ SMALL` samples of `t` steps through an LSTM of `h` units takes
/// [`lstm_forward_final`] rather than [`lstm_forward`]'s streaming kernels: for long sequences through a narrow
/// LSTM (the sentiment model's batch of one review takes a third of the CPU time the column split takes, which
/// waits for both threads at each step). Its rows then have the bits they have in any larger batch, so a server's
/// coalesced batches give each caller what a separate call gives; they may differ in the last bits from the training
/// forward of the same small batch, which stays on the streaming kernels.
pub fn final_only_for_small(b: usize, t: usize, h: usize) -> bool {
    final_only_available(b) && b * t >= SMALL_FINAL_ROWS && 16 * h * h <= SMALL_FINAL_WEIGHT_BYTES
}

/// The input of [`lstm_forward_final`].
#[derive(Clone, Copy)]
pub enum FinalInput<'a> {
    /// x `[B,T,I]`.
    Rows(&'a [f32]),
    /// Token ids `[B,T]` (each below the table's V rows) whose x is an embedding's rows: the input projection of a
    /// step is the token's row of `table` `[V, 4H]` ([`input_table`]), gathered instead of computed.
    Table { tokens: &'a [i32], table: &'a [f32] },
}

/// `table[v] = b_ih + b_hh + E[v]·W_ihᵀ` `[V, 4H]` for the embedding `e` `[V, I]`: the rows of the input projection
/// that [`lstm_forward_final`] computes for x = E[id], by the same packed kernel with the same bias, so each row has
/// the same bits as that product (no element's sum depends on the rows it is computed with). Split between the
/// threads by rows. `table` must hold V·4H floats. Needs [`packed::available`].
pub fn input_table(i: usize, e: &[f32], p: LstmParams, pack: &mut PackedB, table: &mut [f32]) {
    let g4 = p.b_ih.len();
    let v = e.len().checked_div(i).unwrap_or(0);
    assert!(table.len() == v * g4, "input_table: the table holds {} floats, not {v}·{g4}", table.len());
    pack.pack(i, g4, Mat::new(p.w_ih, Strides::transposed(i)));
    let bias = summed_bias(&p);
    let pack: &PackedB = pack;
    // Blocks of rows that fill a thread's share; the product's cost per row does not depend on the block.
    let rows = v.div_ceil(rayon::current_num_threads()).max(1);
    table.par_chunks_mut(rows * g4).zip(e.par_chunks(rows * i)).for_each(|(t, e)| gemm_packed_batch_bias(1, t.len() / g4, e, 0, i, pack, &bias, t, 0, g4));
}

/// How [`lstm_forward_final`] should read the projection of tokens behind the embedding `e`: `None` to compute it
/// from the gathered rows; `Some(fresh)` from a table, used when `cache` already holds it for these weights (`fresh`)
/// or when computing it (V rows of the projection) costs no more than the `rows` (B·T) of projection it replaces.
/// The weights are compared once here, and `fresh` is handed to [`embedding_table`].
pub fn table_use(cache: &LstmCache, e: &[f32], p: LstmParams, rows: usize, i: usize) -> Option<bool> {
    if !final_only_available(usize::MAX) || i == 0 {
        return None;
    }
    let fresh = table_is_for(cache, e, p);
    (fresh || rows >= e.len() / i).then_some(fresh)
}

/// Whether `cache`'s table was computed from these weights, compared by their bits.
fn table_is_for(cache: &LstmCache, e: &[f32], p: LstmParams) -> bool {
    let parts = [e, p.w_ih, p.b_ih, p.b_hh];
    let src = &cache.table_source;
    if cache.table.is_empty() || src.len() != parts.iter().map(|x| x.len()).sum::<usize>() {
        return false;
    }
    let mut at = 0;
    parts.iter().all(|part| {
        let same = src[at..at + part.len()].iter().zip(*part).all(|(a, b)| a.to_bits() == b.to_bits());
        at += part.len();
        same
    })
}

/// `cache`'s table for the embedding `e` `[V, I]` and these weights ([`input_table`]), computed unless `fresh` (from
/// [`table_use`]) says it already is. `OutOfMemory` when the table or the copy of the weights kept with it cannot be
/// allocated.
pub fn embedding_table(cache: &mut LstmCache, e: &[f32], p: LstmParams, i: usize, index: usize, fresh: bool) -> Result<()> {
    if !fresh {
        let v = e.len() / i;
        let g4 = p.b_ih.len();
        cache.table.clear();
        cache.table_source.clear();
        super::room(&mut cache.table, &[v, g4], index, "lstm", "input projection table")?;
        let src_len = e.len() + p.w_ih.len() + 2 * g4;
        super::room(&mut cache.table_source, &[src_len], index, "lstm", "weights of the input projection table")?;
        cache.table.resize(v * g4, 0.0);
        input_table(i, e, p, &mut cache.packed_w_ih[0], &mut cache.table);
        for part in [e, p.w_ih, p.b_ih, p.b_hh] {
            cache.table_source.extend_from_slice(part);
        }
    }
    Ok(())
}

/// Inference when only the final state is wanted (`returnSequences: false`, no dropout, no initial state): the same
/// arithmetic as [`lstm_forward`], so the same outputs bit for bit, but nothing is kept for backward. The input
/// projection runs a window of steps at a time for a group of samples, so the gates never leave L2 (`lstm_forward`
/// writes and re-reads B·T·4H floats, which makes a large inference pass memory-bound). Writes h_final `[B,H]`
/// into `out` at rows `features` apart from column `offset`. Needs [`final_only_available`].
///
/// # Panics
/// Unless [`final_only_available`], and unless each sample's `h` outputs fit its row (`offset + h <= features`).
#[allow(clippy::too_many_arguments)]
pub fn lstm_forward_final(
    dims: LstmDims,
    reverse: bool,
    x: FinalInput,
    mask: Option<&[u8]>,
    p: LstmParams,
    cache: &mut LstmCache,
    out: &mut [f32],
    features: usize,
    offset: usize,
) {
    let LstmDims { b, t, i, h } = dims;
    let g4 = 4 * h;
    assert!(final_only_available(b), "lstm_forward_final needs a batch of at least one sample and the avx2 or avx512 SIMD level");
    // The threads write their samples' rows of `out`: these must not overlap.
    assert!(offset + h <= features, "lstm_forward_final: h_final ({h} floats from column {offset}) overflows rows of {features}");
    if b == 0 {
        return;
    }
    if t == 0 {
        for bi in 0..b {
            out[bi * features + offset..][..h].fill(0.0);
        }
        return;
    }
    cache.packed_w_hh[0].pack(h, g4, Mat::new(p.w_hh, Strides::transposed(h)));
    if let FinalInput::Rows(_) = x {
        cache.packed_w_ih[0].pack(i, g4, Mat::new(p.w_ih, Strides::transposed(i)));
    }
    let (pw_hh, pw_ih) = (&cache.packed_w_hh[0], &cache.packed_w_ih[0]);
    let bias = summed_bias(&p);
    // At most FINAL_SAMPLES samples a group, and fewer when the batch is small, so that each thread gets one: a
    // server's batch of 32 would otherwise run on one core. A sample's arithmetic does not depend on its group.
    let per_group = FINAL_SAMPLES.min(b.div_ceil(rayon::current_num_threads()));
    let groups = b.div_ceil(per_group);
    let out_len = out.len();
    let outp = SendPtr::new(out);
    (0..groups).into_par_iter().for_each(|grp| {
        // Captures the Sync wrapper as a whole (a closure using `outp.0` would capture the bare pointer).
        let out_base = outp;
        let b0 = grp * per_group;
        let bn = per_group.min(b - b0);
        FINAL_SCRATCH.with_borrow_mut(|[gates, hc, hp, cc, cp]| {
            let gates = sized(gates, bn * FINAL_WINDOW * g4);
            let (mut hc, mut hp, mut cc, mut cp) = (sized(hc, bn * h), sized(hp, bn * h), sized(cc, bn * h), sized(cp, bn * h));
            hp.fill(0.0);
            cp.fill(0.0);
            for w0 in (0..t).step_by(FINAL_WINDOW) {
                let tw = FINAL_WINDOW.min(t - w0);
                // The window's steps in processing order s = w0..w0+tw are times tt = s (or T-1-s reversed); the
                // projection runs over the contiguous times they cover, for each sample.
                let t_lo = if reverse { t - w0 - tw } else { w0 };
                match x {
                    FinalInput::Rows(x) => gemm_packed_batch_bias(bn, tw, &x[(b0 * t + t_lo) * i..], t * i, i, pw_ih, &bias, gates, FINAL_WINDOW * g4, g4),
                    FinalInput::Table { tokens, table } => {
                        for bi in 0..bn {
                            let ids = &tokens[(b0 + bi) * t + t_lo..][..tw];
                            for (row, &id) in gates[bi * FINAL_WINDOW * g4..][..tw * g4].chunks_exact_mut(g4).zip(ids) {
                                row.copy_from_slice(&table[id as usize * g4..][..g4]);
                            }
                        }
                    }
                }
                for s in w0..w0 + tw {
                    let tt = if reverse { t - 1 - s } else { s };
                    let wrow = tt - t_lo;
                    if s > 0 {
                        gemm_packed(bn, hp, h, pw_hh, 1.0, &mut gates[wrow * g4..], FINAL_WINDOW * g4);
                    }
                    for bi in 0..bn {
                        let (hn, cn) = (&mut hc[bi * h..(bi + 1) * h], &mut cc[bi * h..(bi + 1) * h]);
                        let (ho, co) = (&hp[bi * h..(bi + 1) * h], &cp[bi * h..(bi + 1) * h]);
                        if mask.is_some_and(|m| m[(b0 + bi) * t + tt] == 0) {
                            hn.copy_from_slice(ho);
                            cn.copy_from_slice(co);
                        } else {
                            lstm_cell_forward(h, &mut gates[(bi * FINAL_WINDOW + wrow) * g4..][..g4], co, cn, hn);
                        }
                    }
                    std::mem::swap(&mut hc, &mut hp);
                    std::mem::swap(&mut cc, &mut cp);
                }
            }
            for bi in 0..bn {
                let at = (b0 + bi) * features + offset;
                assert!(at + h <= out_len);
                // SAFETY: each group writes its own samples' rows; the bound is asserted above.
                unsafe { std::slice::from_raw_parts_mut(out_base.0.add(at), h) }.copy_from_slice(&hp[bi * h..(bi + 1) * h]);
            }
        });
    });
}

/// A column of ones as a `[rows, 1]` view of any length: appended to X, it makes the product's last column Σ dgates,
/// the bias gradient.
pub(super) const ONES: Mat<'static> = Mat { data: &[1.0], st: Strides { rs: 0, cs: 0 } };

/// Rows of B·T per block of [`weight_grads_packed`]: a block's panels of X (64 rows × 32 floats) and the matching
/// 64 × 32 floats of dgates for a 32-row block of the output stay in L1 together.
const GRAD_ROWS: usize = 64;

thread_local! {
    /// Per-thread panels of one block of rows of X for [`weight_grads_packed`].
    static GRAD_PANELS: RefCell<PackedB> = RefCell::default();
}

/// `out [G, N] = dgatesᵀ · [X_0 X_1 …]` over `rows` rows (dgates `[rows, G]`, rows `ldg` apart; each part `X_j` a
/// `[rows, n_j]` view):
/// the weight gradients of all steps in one product. The output rows are split between the threads; each runs the
/// rows of dgates and X in blocks of [`GRAD_ROWS`], packing its block of X into panels and adding the block's
/// product to its rows of `out`. Every element is one sum per block, blocks in order, whatever the thread count.
pub(super) fn weight_grads_packed(rows: usize, g: usize, dgates: &[f32], ldg: usize, parts: &[(usize, Mat)], out: &mut [f32]) {
    let n: usize = parts.iter().map(|&(nj, _)| nj).sum();
    let per_task = g.div_ceil(rayon::current_num_threads()).next_multiple_of(packed::MR);
    out[..g * n].par_chunks_mut(per_task * n).enumerate().for_each(|(task, c)| weight_grads_rows(rows, &dgates[task * per_task..], ldg, parts, c));
}

/// The rows of [`weight_grads_packed`]'s output in `c` (`[m, N]`, dgates' columns from the start of `dgates`), on this
/// thread: X packed a block of [`GRAD_ROWS`] rows at a time, the blocks' products added in order.
pub(super) fn weight_grads_rows(rows: usize, dgates: &[f32], ldg: usize, parts: &[(usize, Mat)], c: &mut [f32]) {
    let n: usize = parts.iter().map(|&(nj, _)| nj).sum();
    let m = c.len() / n;
    GRAD_PANELS.with_borrow_mut(|panels| {
        if rows == 0 {
            c.fill(0.0);
        }
        for k0 in (0..rows).step_by(GRAD_ROWS) {
            let kc = GRAD_ROWS.min(rows - k0);
            panels.pack_rows(k0..k0 + kc, parts);
            gemm_packed_at(m, &dgates[k0 * ldg..], ldg, panels, if k0 == 0 { 0.0 } else { 1.0 }, c, n);
        }
    });
}

/// b_ih + b_hh `[4H]`: the one bias the gates start from.
fn summed_bias(p: &LstmParams) -> Vec<f32> {
    p.b_ih.iter().zip(p.b_hh).map(|(a, c)| a + c).collect()
}

/// Sample `b`'s row of a dropout mask `[B, w]`, or the empty mask when dropout is off.
pub(super) fn mask_row(mask: &[f32], b: usize, w: usize) -> &[f32] {
    if mask.is_empty() {
        mask
    } else {
        &mask[b * w..(b + 1) * w]
    }
}

/// Gate g's part of sample b's row of a dropout mask with `copies` copies of `w` floats per sample (the whole row
/// when the gates share one copy), or the empty mask when dropout is off.
pub(super) fn gate_mask_row(mask: &[f32], b: usize, copies: usize, g: usize, w: usize) -> &[f32] {
    let row = mask_row(mask, b, copies * w);
    if copies == 1 {
        row
    } else {
        &row[g * w..(g + 1) * w]
    }
}

/// `dst += src ⊙ mask`, or `dst += src` for the empty mask.
pub(super) fn add_masked(dst: &mut [f32], src: &[f32], mask: &[f32]) {
    if mask.is_empty() {
        dst.iter_mut().zip(src).for_each(|(d, s)| *d += s);
    } else {
        dst.iter_mut().zip(src).zip(mask).for_each(|((d, s), m)| *d += s * m);
    }
}

/// The recurrent input of a step for sample `b`: its previous h, times its recurrent dropout mask when there is one
/// (`dst` holds one copy per gate with per-gate masks).
pub(super) fn recurrent_input(h_prev: &[f32], rec_mask: &[f32], b: usize, dst: &mut [f32]) {
    let m = mask_row(rec_mask, b, dst.len());
    if m.is_empty() {
        dst.copy_from_slice(h_prev);
    } else {
        for (dst, m) in dst.chunks_exact_mut(h_prev.len()).zip(m.chunks_exact(h_prev.len())) {
            dst.iter_mut().zip(h_prev).zip(m).for_each(|((d, s), m)| *d = s * m);
        }
    }
}

/// Packs `packs[0]` with the whole B = `view(0)` `[k, G·H]` (`width` = G·H), or, with per-gate masks (`copies` G),
/// `packs[g]` with gate g's columns `[k, H]` = `view(g·H)` (`view(r)` starts at the weight's row r).
pub(super) fn pack_gates<'a>(packs: &mut [PackedB], copies: usize, k: usize, width: usize, view: impl Fn(usize) -> Mat<'a>) {
    let n = width / copies;
    for (g, pack) in packs[..copies].iter_mut().enumerate() {
        pack.pack(k, n, view(g * n));
    }
}

/// Row `r` mutably and row `p` (≠ r) immutably, from a slice of `w`-wide rows.
pub(super) fn row_pair(v: &mut [f32], w: usize, r: usize, p: usize) -> (&mut [f32], &[f32]) {
    if r < p {
        let (a, b) = v.split_at_mut(p * w);
        (&mut a[r * w..(r + 1) * w], &b[..w])
    } else {
        let (a, b) = v.split_at_mut(r * w);
        (&mut b[..w], &a[p * w..(p + 1) * w])
    }
}

/// Backward of [`lstm_forward`] for one direction: accumulates the parameter gradients and, when `dx` is given,
/// adds dL/dx `[B,T,I]` into it. `x` is the same input forward saw (before the dropout mask).
#[allow(clippy::too_many_arguments)]
pub fn lstm_backward(
    dims: LstmDims,
    reverse: bool,
    x: &[f32],
    mask: Option<&[u8]>,
    p: LstmParams,
    cache: &mut LstmCache,
    dout: OutputGrad,
    mut grads: LstmGrads,
    mut dx: Option<&mut [f32]>,
    inline: Option<InlineUpdates>,
) {
    let LstmDims { b, t, i, h } = dims;
    let g4 = 4 * h;
    let InlineUpdates { w_hh: mut inline_hh, w_ih: mut inline_ih } = inline.unwrap_or(InlineUpdates { w_hh: None, w_ih: None });
    let (can_hh, can_ih) = inline_updates_possible(dims, reverse, mask, cache, dx.is_some());
    assert!((inline_hh.is_none() || can_hh) && (inline_ih.is_none() || can_ih), "inline weight updates planned where they cannot run");
    if b == 0 || t == 0 {
        return;
    }
    let dgates = sized(&mut cache.dgates, b * t * g4);
    let carry_dh = sized(&mut cache.carry_dh, b * h);
    let carry_dc = sized(&mut cache.carry_dc, b * h);
    carry_dh.fill(0.0);
    carry_dc.fill(0.0);
    let (gates, cs, rec_mask) = (&cache.gates[..b * t * g4], &cache.c[..b * t * h], &cache.rec_mask);
    let zeros = vec![0.0f32; h];

    let nb = block_of_samples(b);
    let small_batch = b <= SMALL;
    let packed_path = !small_batch && packed::available();
    // With per-gate masks (hg = 4) each gate's share of a product is masked on its own: the products run gate by
    // gate, over kg = H rows of dgates and of the weights each (kg = 4H in one product otherwise).
    let (xg, hg) = (mask_copies(cache.in_mask.len(), b * i), mask_copies(cache.rec_mask.len(), b * h));
    let kg = g4 / hg;
    // With the packed kernel, dx comes from the same per-step product as the recurrent gradient: B = [W_hh W_ih]
    // `[4H, H+I]` gives dgates_t·W_hh and dgates_t·W_ih side by side while dgates_t is in L1, instead of a separate
    // pass over all B·T rows of dgates after the loop.
    let fuse_dx = packed_path && dx.is_some();
    let nc = if fuse_dx { h + i } else { h };
    // B = W_hh `[4H, H]` (and W_ih beside it), or each gate's rows of them, packed once for all T steps.
    let packed_w = (packed_path && (t > 1 || fuse_dx)).then(|| {
        for (g, pack) in cache.packed_w_hh[..hg].iter_mut().enumerate() {
            let parts = [(h, Mat::new(&p.w_hh[g * kg * h..], Strides::rows(h))), (i, Mat::new(&p.w_ih[g * kg * i..], Strides::rows(i)))];
            pack.pack_side_by_side(kg, &parts[..if fuse_dx { 2 } else { 1 }]);
        }
        &cache.packed_w_hh
    });
    // Each sample's products of a step, one per gate with per-gate masks: `[B, hg, H(+I)]`.
    let step_out = sized(&mut cache.dh_rec, b * hg * nc);
    // Each block's rows of dx (empty slices when dx is not fused).
    let blocks = b.div_ceil(nb);
    let mut dx_blocks: Vec<&mut [f32]> = match dx.as_deref_mut() {
        Some(d) if fuse_dx => d[..b * t * i].chunks_mut(nb * t * i).collect(),
        _ => (0..blocks).map(|_| &mut [][..]).collect(),
    };
    let in_mask: &[f32] = &cache.in_mask;
    // With W_hh updated inline, backward runs in two phases: steps T-1..1, then W_hh's last product (step 1's)
    // together with its update, then step 0 (which reads no W_hh).
    let fuse_hh = inline_hh.is_some();
    let phases = if fuse_hh { [1..t, 0..1] } else { [0..t, 0..0] };
    for steps in phases.into_iter().filter(|steps| !steps.is_empty()) {
        if steps.start == 0 && fuse_hh {
            let (w, update) = inline_hh.take().expect("W_hh's inline update");
            // One sequence (b = 1), so step tt's rows are row tt of dgates and of hprev; h₋₁ = 0 adds nothing.
            let grad = LowRankGrad { k: t - 1, n: h, g: &dgates[g4..t * g4], ldg: g4, x: &cache.hprev[h..t * h], ldx: h };
            update.product_then_update(1, &dgates[g4..2 * g4], g4, w, grad, 0.0, step_out, nc);
            add_masked(&mut carry_dh[..h], &step_out[..h], &[]);
        }
        // W_hh as read by this phase's products (none in the last phase of an inline update).
        let w_hh: &[f32] = inline_hh.as_ref().map_or(p.w_hh, |(w, _)| &**w);
        dgates
            .par_chunks_mut(nb * t * g4)
            .zip(carry_dh.par_chunks_mut(nb * h))
            .zip(carry_dc.par_chunks_mut(nb * h))
            .zip(step_out.par_chunks_mut(nb * hg * nc))
            .zip(dx_blocks.par_iter_mut())
            .enumerate()
            .for_each(|(blk, ((((dgates, carry_dh), carry_dc), step_out), dx_blk))| {
                let b0 = blk * nb;
                let bn = carry_dh.len() / h;
                for s in steps.clone().rev() {
                    let tt = if reverse { t - 1 - s } else { s };
                    let tp = if reverse { tt + 1 } else { tt.wrapping_sub(1) };
                    for bi in 0..bn {
                        let bg = b0 + bi;
                        let masked = mask.is_some_and(|m| m[bg * t + tt] == 0);
                        let dh = &mut carry_dh[bi * h..(bi + 1) * h];
                        // The output's gradient joins the one flowing back from the next step.
                        let from_output = dout.at(bg, t, tt, s, masked, h);
                        if let Some(g) = from_output {
                            dh.iter_mut().zip(g).for_each(|(d, g)| *d += g);
                        }
                        let row = (bi * t + tt) * g4;
                        let drow = &mut dgates[row..row + g4];
                        if masked {
                            // The step copied h and c forward: their gradients pass straight through.
                            drow.fill(0.0);
                            continue;
                        }
                        let grow = &gates[(b0 * t) * g4 + row..][..g4];
                        let c = &cs[(bg * t + tt) * h..][..h];
                        let c_prev = if s > 0 { &cs[(bg * t + tp) * h..][..h] } else { &zeros[..] };
                        lstm_cell_backward(h, grow, c_prev, c, dh, &mut carry_dc[bi * h..(bi + 1) * h], drow);
                        dh.fill(0.0);
                    }
                    if (s == 0 && !fuse_dx) || (s == 1 && fuse_hh) {
                        continue;
                    }
                    // [dh_rec | dx_t] = dgates_t · [W_hh | W_ih]   (dx_t only when fused), a product per gate with per-gate
                    // masks
                    for g in 0..hg {
                        let w = Mat::new(&w_hh[g * kg * h..], Strides::rows(h));
                        let pw = packed_w.map(|pw| &pw[g]);
                        step_product(pw, small_batch, bn, kg, nc, &dgates[tt * g4 + g * kg..], t * g4, w, 0.0, &mut step_out[g * nc..], hg * nc);
                    }
                    for bi in 0..bn {
                        for g in 0..hg {
                            let out = &step_out[(bi * hg + g) * nc..][..nc];
                            if s > 0 {
                                // dh_{t-1} += dh_rec ⊙ recurrent mask
                                add_masked(&mut carry_dh[bi * h..(bi + 1) * h], &out[..h], gate_mask_row(rec_mask, b0 + bi, hg, g, h));
                            }
                            if fuse_dx {
                                // dx_t += dx_t of the product ⊙ input mask
                                add_masked(&mut dx_blk[(bi * t + tt) * i..][..i], &out[h..], gate_mask_row(in_mask, b0 + bi, xg, g, i));
                            }
                        }
                    }
                }
            });
    }

    weight_grads(dims, xg, hg, packed_path, x, cache, &mut grads);
    if let Some(dx) = dx.filter(|_| !fuse_dx) {
        input_grad(dims, xg, hg, p.w_ih, x, cache, inline_ih.take(), dx);
    }
    assert!(inline_hh.is_none() && inline_ih.is_none(), "an inline weight update was not applied");
}

/// The weight and bias gradients of one direction over all B·T rows at once, from the dgates backward left in
/// `cache`: one packed product `dgatesᵀ·[x h_prev 1]`, or matrixmultiply products (gate by gate with per-gate masks,
/// each gate's rows from its own copies of x and h_prev). `x` is the input before the dropout mask.
fn weight_grads(dims: LstmDims, xg: usize, hg: usize, packed_path: bool, x: &[f32], cache: &mut LstmCache, grads: &mut LstmGrads) {
    let LstmDims { b, t, i, h } = dims;
    let (g4, kg, rows) = (4 * h, 4 * h / hg, b * t);
    let xin: &[f32] = if cache.in_mask.is_empty() { x } else { &cache.xm[..rows * xg * i] };
    let dgates = &cache.dgates[..rows * g4];
    let hprev = &cache.hprev[..rows * hg * h];
    let x_copy = |g: usize| Mat::new(&xin[if xg == 1 { 0 } else { g * i }..], Strides::rows(xg * i));
    let h_copy = |g: usize| Mat::new(&hprev[g * h..], Strides::rows(hg * h));
    if packed_path {
        // [dW_ih dW_hh db] = dgatesᵀ · [x h_prev 1] in one product, `[4H, I+H+1]`.
        let n = i + h + 1;
        let dw = sized(&mut cache.dw_cat, g4 * n);
        if hg == 1 {
            weight_grads_packed(rows, g4, dgates, g4, &[(i, x_copy(0)), (h, h_copy(0)), (1, ONES)], dw);
        } else {
            // A gate per task: each gate's copies of x and h_prev are packed by one thread only.
            dw.par_chunks_mut(kg * n)
                .enumerate()
                .for_each(|(g, dw)| weight_grads_rows(rows, &dgates[g * kg..], g4, &[(i, x_copy(g)), (h, h_copy(g)), (1, ONES)], dw));
        }
        for (g, row) in dw.chunks_exact(n).enumerate() {
            if let Some(dw_ih) = grads.dw_ih.as_deref_mut() {
                dw_ih[g * i..(g + 1) * i].iter_mut().zip(&row[..i]).for_each(|(d, s)| *d += s);
            }
            if let Some(dw_hh) = grads.dw_hh.as_deref_mut() {
                dw_hh[g * h..(g + 1) * h].iter_mut().zip(&row[i..i + h]).for_each(|(d, s)| *d += s);
            }
            grads.db_ih[g] += row[i + h];
            grads.db_hh[g] += row[i + h];
        }
    } else {
        for g in 0..hg {
            let dg = Mat::new(&dgates[g * kg..], Strides::transposed(g4));
            if let Some(dw_ih) = grads.dw_ih.as_deref_mut() {
                par_gemm(kg, rows, i, 1.0, dg, x_copy(g), 1.0, &mut dw_ih[g * kg * i..], Strides::rows(i));
            }
            if let Some(dw_hh) = grads.dw_hh.as_deref_mut() {
                par_gemm(kg, rows, h, 1.0, dg, h_copy(g), 1.0, &mut dw_hh[g * kg * h..], Strides::rows(h));
            }
        }
        let mut db = vec![0.0f32; g4];
        par_col_sums_add(dgates, rows, g4, &mut db);
        grads.db_ih.iter_mut().zip(&db).for_each(|(d, s)| *d += s);
        grads.db_hh.iter_mut().zip(&db).for_each(|(d, s)| *d += s);
    }
}

/// dL/dx `[B,T,I]` += dgates·W_ih over all rows, when the time loop did not fuse it: one product (with W_ih's inline
/// update, `inline_ih`, when planned), or with input dropout Σ_g (dgates_g · W_ih_g) ⊙ gate g's input mask.
#[allow(clippy::too_many_arguments)]
fn input_grad(dims: LstmDims, xg: usize, hg: usize, w_ih: &[f32], x: &[f32], cache: &mut LstmCache, inline_ih: Option<InlineWeight>, dx: &mut [f32]) {
    let LstmDims { b, t, i, h } = dims;
    let (g4, kg, rows) = (4 * h, 4 * h / hg, b * t);
    // Without input dropout the input is x itself: the low-rank gradient of W_ih is dgatesᵀ·x.
    let xin = x;
    let dgates = &cache.dgates[..rows * g4];
    if cache.in_mask.is_empty() {
        match inline_ih {
            Some((w, update)) => {
                let grad = LowRankGrad { k: rows, n: i, g: dgates, ldg: g4, x: xin, ldx: i };
                update.product_then_update(rows, dgates, g4, w, grad, 1.0, dx, i);
            }
            None => par_gemm(rows, g4, i, 1.0, Mat::new(dgates, Strides::rows(g4)), Mat::new(w_ih, Strides::rows(i)), 1.0, dx, Strides::rows(i)),
        }
    } else {
        // One product when the gates share the mask (hg = 1).
        let dxm = sized(&mut cache.dxm, rows * i);
        for g in 0..hg {
            let (dg, w) = (Mat::new(&dgates[g * kg..], Strides::rows(g4)), Mat::new(&w_ih[g * kg * i..], Strides::rows(i)));
            par_gemm(rows, kg, i, 1.0, dg, w, 0.0, dxm, Strides::rows(i));
            for bi in 0..b {
                let m = gate_mask_row(&cache.in_mask, bi, xg, g, i);
                for (d, s) in dx[bi * t * i..(bi + 1) * t * i].chunks_exact_mut(i).zip(dxm[bi * t * i..(bi + 1) * t * i].chunks_exact(i)) {
                    add_masked(d, s, m);
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// The layer

/// The LSTM layer, one or two directions: per direction `weight_ih` `[4H,I]`, `weight_hh` `[4H,H]`, `bias_ih` and
/// `bias_hh` `[4H]` (`_reverse` names for the second), PyTorch's layout.
pub struct Lstm {
    config: LstmConfig,
    index: usize,
    /// One cache per direction.
    caches: Vec<LstmCache>,
    /// The input gathered from an embedding's rows, at inference on token ids ([`Forward::embedded`]) when the
    /// table of projections is not worth computing.
    embedded_x: Vec<f32>,
}

pub fn build(c: &LstmConfig, index: usize, input: FeatureShape) -> Result<Built> {
    if !input.seq {
        return Err(LstmError::InvalidConfig(format!("layer {index} (lstm) needs a sequence input [B, T, F], but the layer before it outputs [B, F]")));
    }
    let h = c.units;
    let g4 = checked_mul(index, h, 4)?;
    let dirs = if c.bidirectional { 2 } else { 1 };
    let mut params = Vec::with_capacity(4 * dirs);
    for d in 0..dirs {
        let sfx = if d == 1 { "_reverse" } else { "" };
        params.push(ParamSpec { name: format!("weight_ih{sfx}"), shape: vec![g4, input.f], init: c.kernel_initializer.clone() });
        params.push(ParamSpec { name: format!("weight_hh{sfx}"), shape: vec![g4, h], init: c.recurrent_initializer.clone() });
        params.push(ParamSpec { name: format!("bias_ih{sfx}"), shape: vec![g4], init: c.bias_initializer.clone() });
        params.push(ParamSpec { name: format!("bias_hh{sfx}"), shape: vec![g4], init: c.bias_initializer.clone() });
    }
    let f = checked_mul(index, h, dirs)?;
    let caches = (0..dirs).map(|_| LstmCache::default()).collect();
    Ok(Built {
        layer: Box::new(Lstm { config: c.clone(), index, caches, embedded_x: Vec::new() }),
        params,
        output: FeatureShape { f, seq: c.return_sequences },
    })
}

pub fn output_shape(c: &LstmConfig, input: ActShape) -> ActShape {
    super::recurrent::output_shape(c.units, c.return_sequences, c.bidirectional, input)
}

/// Whether an LSTM draws its dropout masks per gate in training: with recurrent dropout, as Keras 3 (whose cell then
/// runs its `implementation=1`, four input and four recurrent masks); otherwise the gates share one input mask.
fn per_gate_masks(c: &LstmConfig) -> bool {
    c.recurrent_dropout > 0.0
}

/// Draws a dropout mask of `len` multipliers into `mask` in training when `rate` > 0, else empties it.
fn set_mask(mask: &mut Vec<f32>, training: bool, rate: f32, key: CounterKey, len: usize) {
    if training && rate > 0.0 {
        mask.resize(len, 0.0);
        key.dropout_mask(rate, mask);
    } else {
        mask.clear();
    }
}

/// Draws direction `d`'s dropout masks for a training pass (`rates`: input and recurrent): `copies` per sample of
/// `[F]` and of `[H]` (one per gate with per-gate masks), from the layer's counter streams (the layer index keys
/// them, so layers never share draws); empty when a rate is 0 or at inference.
#[allow(clippy::too_many_arguments)]
pub(super) fn draw_masks(fw: &Forward, d: usize, rates: (f32, f32), copies: usize, h: usize, in_mask: &mut Vec<f32>, rec_mask: &mut Vec<f32>) {
    let (s_in, s_rec) =
        if d == 0 { (rng::STREAM_LSTM_INPUT, rng::STREAM_LSTM_RECURRENT) } else { (rng::STREAM_LSTM_INPUT_REVERSE, rng::STREAM_LSTM_RECURRENT_REVERSE) };
    let key = |stream| CounterKey::new(fw.seed, rng::stream(fw.index, stream), fw.step);
    set_mask(in_mask, fw.training, rates.0, key(s_in), copies * fw.shape.b * fw.shape.f);
    set_mask(rec_mask, fw.training, rates.1, key(s_rec), copies * fw.shape.b * h);
}

/// A layer's list for [`super::room_all`]: each buffer, its dims and its name.
pub(super) type Reserved<'a> = Vec<(&'a mut Vec<f32>, Vec<usize>, &'static str)>;

/// Adds to a recurrent layer's [`Layer::reserve`] list its dropout buffers `[in_mask, xm, rec_mask]` for a training
/// pass with input and recurrent masks (`masks`) of `copies` copies each, as [`draw_masks`] and [`masked_input`] size
/// them.
pub(super) fn mask_buffers<'a>(buffers: &mut Reserved<'a>, dims: LstmDims, copies: usize, masks: (bool, bool), [im, xm, rm]: [&'a mut Vec<f32>; 3]) {
    let LstmDims { b, t, i, h } = dims;
    if masks.0 {
        buffers.extend([(im, vec![copies, b, i], "input dropout mask"), (xm, vec![b, t, copies, i], "masked input")]);
    }
    if masks.1 {
        buffers.push((rm, vec![copies, b, h], "recurrent dropout mask"));
    }
}

/// Copies a recurrent layer's states into its output: the whole sequence or the final state, directions concatenated
/// (`hs[d]` is direction d's h `[B,T,H]`). In a bidirectional layer that returns sequences, masked steps output zeros
/// (Keras).
pub(super) fn assemble_output(b: usize, t: usize, h: usize, seq: bool, hs: &[&[f32]], mask: Option<&[u8]>, out: &mut [f32]) {
    let dirs = hs.len();
    let f = h * dirs;
    for (d, hd) in hs.iter().enumerate() {
        for bi in 0..b {
            if seq {
                for tt in 0..t {
                    let dst = &mut out[(bi * t + tt) * f + d * h..][..h];
                    if dirs == 2 && mask.is_some_and(|m| m[bi * t + tt] == 0) {
                        dst.fill(0.0);
                    } else {
                        dst.copy_from_slice(&hd[(bi * t + tt) * h..][..h]);
                    }
                }
            } else {
                // The final state: after t = T-1 forward, after t = 0 reversed.
                let tt = if d == 0 { t - 1 } else { 0 };
                out[bi * f + d * h..][..h].copy_from_slice(&hd[(bi * t + tt) * h..][..h]);
            }
        }
    }
}

/// A weight updated inline is read through its update ([`InlineUpdates`]), and the plain parameters
/// ([`LstmParams`]) get an empty slice in its place; otherwise they read it.
fn read_or_update<'a>(w: &'a mut [f32], update: Option<TensorUpdate<'a>>) -> (&'a [f32], Option<InlineWeight<'a>>) {
    match update {
        Some(u) => (&[], Some((w, u))),
        None => (w, None),
    }
}

impl Lstm {
    /// Inference of the final state only: nothing kept for backward, the gates stay in L2.
    fn final_only(&self, training: bool, shape: ActShape) -> bool {
        let b = shape.b;
        let fits = if b > SMALL { final_only_available(b) } else { final_only_for_small(b, shape.t.unwrap_or(0), self.config.units) };
        !training && !self.config.return_sequences && fits && self.caches.iter().all(|c| c.init_h.is_empty())
    }
}

impl Layer for Lstm {
    fn forward(&mut self, fw: Forward<'_>, out: &mut Vec<f32>) -> Result<(ActShape, MaskOut)> {
        let c = &self.config;
        let shape = fw.shape;
        let t = steps(self.index, "lstm", shape)?;
        let h = c.units;
        let dims = LstmDims { b: shape.b, t, i: shape.f, h };
        let dirs = self.caches.len();
        let out_shape = output_shape(c, shape);
        out.resize(out_shape.len(), 0.0);
        let final_only = self.final_only(fw.training, shape);
        // With recurrent dropout Keras draws the masks per gate: 4 copies each.
        let copies = if per_gate_masks(c) { 4 } else { 1 };
        let lp = |d: usize| {
            let p = |k: usize| fw.params.get(4 * d + k);
            LstmParams { w_ih: p(0), w_hh: p(1), b_ih: p(2), b_hh: p(3) }
        };
        // Token ids behind an embedding: each direction reads its projections from a table when that is cheaper,
        // else the embedding's rows are gathered here, as the embedding layer would have.
        let mut x = fw.x;
        let mut tables = [None; 2];
        if let Some(e) = fw.embedded {
            for (d, cache) in self.caches.iter().enumerate() {
                tables[d] = if final_only { table_use(cache, e, lp(d), shape.b * t, shape.f) } else { None };
            }
            if !tables[..dirs].iter().all(Option::is_some) {
                super::room(&mut self.embedded_x, &[shape.b, t, shape.f], self.index, "lstm", "embedded input")?;
                self.embedded_x.resize(shape.len(), 0.0);
                super::embedding::embedding_forward(shape.f, e, fw.tokens, &mut self.embedded_x);
                x = &self.embedded_x;
            }
        }
        for (d, cache) in self.caches.iter_mut().enumerate() {
            draw_masks(&fw, d, (c.dropout, c.recurrent_dropout), copies, h, &mut cache.in_mask, &mut cache.rec_mask);
            if final_only {
                if let (Some(e), Some(fresh)) = (fw.embedded, tables[d]) {
                    embedding_table(cache, e, lp(d), shape.f, self.index, fresh)?;
                    // Out of the cache for the pass, which borrows the cache mutably.
                    let table = std::mem::take(&mut cache.table);
                    lstm_forward_final(dims, d == 1, FinalInput::Table { tokens: fw.tokens, table: &table }, fw.mask, lp(d), cache, out, h * dirs, d * h);
                    cache.table = table;
                } else {
                    lstm_forward_final(dims, d == 1, FinalInput::Rows(x), fw.mask, lp(d), cache, out, h * dirs, d * h);
                }
            } else {
                lstm_forward(dims, d == 1, x, fw.mask, lp(d), cache);
            }
        }
        if !final_only {
            let hs: Vec<&[f32]> = self.caches.iter().map(|c| c.h.as_slice()).collect();
            assemble_output(shape.b, t, h, c.return_sequences, &hs, fw.mask, out);
        }
        Ok((out_shape, if c.return_sequences { MaskOut::Keep } else { MaskOut::Drop }))
    }

    fn reads_embedded(&self, shape: ActShape) -> bool {
        self.final_only(false, shape)
    }

    fn backward(&mut self, bw: Backward<'_>) {
        let Backward { x, shape, mask, dy, mut dx, params, ranges, mut grads, mut inline, .. } = bw;
        let h = self.config.units;
        let dims = LstmDims { b: shape.b, t: shape.t.unwrap_or(0), i: shape.f, h };
        let dirs = self.caches.len();
        if let Some(dx) = dx.as_deref_mut() {
            dx.fill(0.0);
        }
        // The layer's tensors are contiguous in arena order: each direction's four follow each other.
        let base = ranges[0].start;
        let mut rest_params = &mut params[base..ranges[4 * dirs - 1].end];
        let mut rest_grads = &mut grads[..];
        for (d, cache) in self.caches.iter_mut().enumerate() {
            let dout = if self.config.return_sequences {
                OutputGrad::Sequence { dy, features: h * dirs, offset: d * h, zero_masked: dirs == 2 }
            } else {
                OutputGrad::Last { dy, features: h * dirs, offset: d * h }
            };
            let r = &ranges[4 * d..4 * d + 4];
            let (w_ih, tail) = std::mem::take(&mut rest_params).split_at_mut(r[0].len());
            let (w_hh, tail) = tail.split_at_mut(r[1].len());
            let (b_ih, tail) = tail.split_at_mut(r[2].len());
            let (b_hh, tail) = tail.split_at_mut(r[3].len());
            rest_params = tail;
            // W_ih and W_hh whose gradients are left low-rank are updated by backward itself where it can (their
            // last product), so the update does not read them again.
            let (can_hh, can_ih) = inline_updates_possible(dims, d == 1, mask, cache, dx.is_some());
            let (inline_ih, inline_hh) = (can_ih && inline.planned(4 * d), can_hh && inline.planned(4 * d + 1));
            let (mut update_ih, mut update_hh) = (None, None);
            if inline_ih || inline_hh {
                inline.updated[4 * d] = inline_ih;
                inline.updated[4 * d + 1] = inline_hh;
                let [u_ih, u_hh] = inline.take([4 * d, 4 * d + 1]);
                (update_ih, update_hh) = (inline_ih.then_some(u_ih), inline_hh.then_some(u_hh));
            }
            let (w_ih, inline_w_ih) = read_or_update(w_ih, update_ih);
            let (w_hh, inline_w_hh) = read_or_update(w_hh, update_hh);
            let lp = LstmParams { w_ih, w_hh, b_ih, b_hh };
            let (g, tail) = std::mem::take(&mut rest_grads).split_at_mut(4);
            rest_grads = tail;
            let [dw_ih, dw_hh, db_ih, db_hh] = g else { unreachable!("four tensors per direction") };
            let lg = LstmGrads {
                dw_ih: dw_ih.as_deref_mut(),
                dw_hh: dw_hh.as_deref_mut(),
                db_ih: db_ih.as_deref_mut().expect("an LSTM bias gradient is stored"),
                db_hh: db_hh.as_deref_mut().expect("an LSTM bias gradient is stored"),
            };
            let updates = InlineUpdates { w_hh: inline_w_hh, w_ih: inline_w_ih };
            lstm_backward(dims, d == 1, x, mask, lp, cache, dout, lg, dx.as_deref_mut(), Some(updates));
        }
    }

    fn reserve(&mut self, shape: ActShape, training: bool) -> Result<()> {
        let t = steps(self.index, "lstm", shape)?;
        if self.final_only(training, shape) {
            return Ok(());
        }
        let c = &self.config;
        let (b, i, h) = (shape.b, shape.f, c.units);
        // As `forward` draws the masks (`draw_masks`): present in training with a rate, 4 copies with per-gate masks.
        let copies = if per_gate_masks(c) { 4 } else { 1 };
        let (in_mask, rec_mask) = (training && c.dropout > 0.0, training && c.recurrent_dropout > 0.0);
        let hg = if rec_mask { copies } else { 1 };
        for cache in &mut self.caches {
            let LstmCache { xm, gates, c: cs, h: hs, hprev, in_mask: im, rec_mask: rm, dgates, carry_dh, carry_dc, dh_rec, dxm, .. } = cache;
            let mut buffers: Reserved = vec![
                (gates, vec![b, t, 4, h], "gates"),
                (cs, vec![b, t, h], "cell states"),
                (hs, vec![b, t, h], "hidden states"),
                (hprev, vec![b, t, hg, h], "previous hidden states"),
            ];
            mask_buffers(&mut buffers, LstmDims { b, t, i, h }, copies, (in_mask, rec_mask), [im, xm, rm]);
            let nc = h.saturating_add(i);
            if training {
                buffers.extend([
                    (dgates, vec![b, t, 4, h], "gate gradients"),
                    (carry_dh, vec![b, h], "hidden state gradient"),
                    (carry_dc, vec![b, h], "cell state gradient"),
                    (dh_rec, vec![b, hg, nc], "step products"),
                ]);
                if in_mask {
                    buffers.push((dxm, vec![b, t, i], "masked input gradient"));
                }
            }
            room_all(self.index, "lstm", &mut buffers)?;
        }
        Ok(())
    }

    fn release(&mut self) {
        self.caches.iter_mut().for_each(|c| *c = LstmCache::default());
    }

    fn low_rank_candidates(&self) -> Vec<usize> {
        // Per-gate masks give each gate's rows their own factors: those gradients are formed in backward.
        if per_gate_masks(&self.config) {
            return Vec::new();
        }
        (0..self.caches.len()).flat_map(|d| [4 * d, 4 * d + 1]).collect()
    }

    fn low_rank_grads<'a>(&'a self, x: &'a [f32], shape: ActShape, _dy: &'a [f32], grads: &mut [Option<LowRankGrad<'a>>]) {
        let (k, i) = (shape.b * shape.t.unwrap_or(1), shape.f);
        let (h, g4) = (self.config.units, 4 * self.config.units);
        for (d, cache) in self.caches.iter().enumerate() {
            // dW_ih = dgatesᵀ·x (after the input mask), dW_hh = dgatesᵀ·hprev, over the k rows.
            let xin: &[f32] = if cache.in_mask.is_empty() { x } else { &cache.xm };
            grads[4 * d] = Some(LowRankGrad { k, n: i, g: &cache.dgates, ldg: g4, x: xin, ldx: i });
            grads[4 * d + 1] = Some(LowRankGrad { k, n: h, g: &cache.dgates, ldg: g4, x: &cache.hprev, ldx: h });
        }
    }

    fn after_init(&self, params: &mut [f32], ranges: &[Range<usize>]) {
        // Keras's unit_forget_bias: the forget gate starts at 1; PyTorch keeps it in bias_ih's f-block.
        if self.config.unit_forget_bias {
            let h = self.config.units;
            for d in 0..self.caches.len() {
                let start = ranges[4 * d + 2].start;
                params[start + h..start + 2 * h].fill(1.0);
            }
        }
    }

    fn is_recurrent(&self) -> bool {
        true
    }

    fn stateful_unsupported(&self) -> Option<String> {
        self.config.bidirectional.then(|| "predictStep cannot carry state through a bidirectional LSTM (its backward pass needs the whole sequence)".into())
    }

    fn set_initial_state(&mut self, b: usize, state: Option<&RecurrentState>) -> Result<()> {
        let n = b.saturating_mul(self.config.units);
        let cache = &mut self.caches[0];
        let state = state.filter(|s| s.len() == 2 && s[0].len() == n);
        state_buffer(&mut cache.init_h, state.map(|s| &s[0]), n, self.index, "lstm")?;
        state_buffer(&mut cache.init_c, state.map(|s| &s[1]), n, self.index, "lstm")
    }

    fn take_final_state(&mut self, b: usize, t: usize, ok: bool) -> Result<Option<RecurrentState>> {
        let hu = self.config.units;
        let (mut h, mut cs) = (Vec::new(), Vec::new());
        let n = b.saturating_mul(hu);
        let cache = &mut self.caches[0];
        // Cleared first: training and `predict` must start from zeros even when the state cannot be kept.
        cache.init_h.clear();
        cache.init_c.clear();
        state_buffer(&mut h, None, n, self.index, "lstm")?;
        state_buffer(&mut cs, None, n, self.index, "lstm")?;
        if ok {
            for bi in 0..b {
                let row = (bi * t + t - 1) * hu;
                h[bi * hu..(bi + 1) * hu].copy_from_slice(&cache.h[row..row + hu]);
                cs[bi * hu..(bi + 1) * hu].copy_from_slice(&cache.c[row..row + hu]);
            }
        }
        Ok(Some(vec![h, cs]))
    }
}
