//! The time loop shared by the GRU and SimpleRNN layers, one direction at a time; each layer kind brings its cell
//! ([`Cell`]):
//!   gi_t = x_t·W_ihᵀ + b_ih,   gh_t = h_{t-1}·W_hhᵀ + b_hh,   h_t = cell(gi_t, gh_t, h_{t-1})
//! The two projections stay apart because a GRU's candidate reads r ⊙ (W_hn h + b_hn).
//!
//! Speed by design, as the LSTM:
//! - the input projection is computed outside the recurrence, for many rows at once: one GEMM over a block's B·T
//!   rows, or, with the packed kernel (`kernels::packed`, the `avx2` and `avx512` levels), a window of steps at a
//!   time just before the loop reaches them; only the recurrent product runs per step, on W_hh packed once per pass,
//!   with b_hh as the product's addend;
//! - each thread runs the whole time loop for its block of samples (samples are independent along time); a small
//!   batch is one block whose per-step products are split by column instead ([`block_of_samples`]);
//! - the weight gradients of all steps are formed after the loop, one product per weight (with the packed kernel
//!   `dgiᵀ·[x 1]` and `dghᵀ·[h_prev 1]`, which give the bias gradients too), and dx one more;
//! - every buffer is sized before the loop: nothing allocates inside it.
//!
//! Keras semantics for `maskZero`: a masked step keeps h, so the output repeats the previous one (zeros in a
//! bidirectional layer that returns sequences). Dropout follows Keras 3: masks are drawn once per sequence and kept
//! across steps; without recurrent dropout one input mask `[B,I]` is shared by the gates, with it each gate has its
//! own input and recurrent masks, `[B,G,I]` and `[B,G,H]` (Keras's cells then run their per-gate
//! `implementation=1`), and its products run gate by gate.

use super::lstm::{
    add_masked, assemble_output, block_of_samples, draw_masks, gate_mask_row, gemm_step, mask_buffers, mask_copies, masked_input, pack_gates, project_window,
    recurrent_input, row_pair, sized, step_product, weight_grads_packed, weight_grads_rows, LstmDims, OutputGrad, ProjectionBlock, Reserved, ONES,
    PROJECTION_WINDOW,
};
use super::{checked_mul, room_all, state_buffer, steps, Backward, Built, FeatureShape, Forward, Layer, MaskOut, ParamSpec, RecurrentState};
use crate::config::Initializer;
use crate::error::{LstmError, Result};
use crate::kernels::gemm::{par_col_sums_add, par_gemm, Mat, Strides, SMALL};
use crate::kernels::packed::{self, gemm_packed, gemm_packed_batch_bias, PackedB};
use crate::model::ActShape;
use rayon::prelude::*;

/// One step of a recurrent cell for one sample, on rows of `G·H` gate pre-activations.
pub trait Cell: Send + Sync + 'static {
    /// Gate blocks per step (a GRU has r, z, n; a SimpleRNN one).
    const GATES: usize;

    /// `gi` holds x·W_ihᵀ + b_ih and `gh` h_prev·W_hhᵀ + b_hh; writes h into `h_out` and keeps in `gi` what
    /// [`Cell::backward`] needs (e.g. the activated gates).
    fn forward(&self, h: usize, gi: &mut [f32], gh: &[f32], h_prev: &[f32], h_out: &mut [f32]);

    /// From `gi` and `gh` as forward left them and `dh`, the gradient reaching `h_out`: writes the pre-activation
    /// gradients of the input part (`dgi`) and of the recurrent part (`dgh`), and replaces `dh` with the gradient
    /// reaching `h_prev` other than through W_hh.
    #[allow(clippy::too_many_arguments)]
    fn backward(&self, h: usize, gi: &[f32], gh: &[f32], h_prev: &[f32], h_out: &[f32], dh: &mut [f32], dgi: &mut [f32], dgh: &mut [f32]);
}

/// One direction's parameters, PyTorch layouts (`G = Cell::GATES`).
#[derive(Clone, Copy)]
pub struct RecurrentParams<'a> {
    pub w_ih: &'a [f32], // [G·H, I]
    pub w_hh: &'a [f32], // [G·H, H]
    pub b_ih: &'a [f32], // [G·H]
    pub b_hh: &'a [f32], // [G·H]
}

/// Where backward adds one direction's gradients.
pub struct RecurrentGrads<'a> {
    pub dw_ih: &'a mut [f32],
    pub dw_hh: &'a mut [f32],
    pub db_ih: &'a mut [f32],
    pub db_hh: &'a mut [f32],
}

/// What backward needs from forward, and its scratch, for one direction. Buffers grow once and are reused.
#[derive(Default)]
pub struct RecurrentCache {
    /// Input after the dropout mask `[B,T,I]`, or `[B,T,G,I]` with per-gate masks; empty without input dropout.
    pub xm: Vec<f32>,
    /// The input part of each step `[B,T,G·H]`, as the cell's forward left it.
    pub gates: Vec<f32>,
    /// The recurrent part of each step, h_prev·W_hhᵀ + b_hh `[B,T,G·H]`.
    pub gh: Vec<f32>,
    /// Hidden state after each step `[B,T,H]` (a masked step repeats the previous state).
    pub h: Vec<f32>,
    /// The recurrent input of each step: the previous h times the recurrent mask `[B,T,H]`, or `[B,T,G,H]` with
    /// per-gate masks (zeros at the first step without an initial state).
    pub hprev: Vec<f32>,
    /// Initial hidden state `[B,H]` for stateful inference; empty means zeros. Training never sets it.
    pub init_h: Vec<f32>,
    /// Dropout multipliers `[B,I]` and `[B,H]`, or `[B,G,I]` and `[B,G,H]` per gate; empty when off.
    pub in_mask: Vec<f32>,
    pub rec_mask: Vec<f32>,
    /// Pre-activation gradients of the input and recurrent parts `[B,T,G·H]`.
    pub dgi: Vec<f32>,
    pub dgh: Vec<f32>,
    /// Scratch: the gradient reaching h from the next step `[B,H]`, the per-step product `[B,G,H]` and dx before
    /// the input mask `[B,T,I]`.
    carry_dh: Vec<f32>,
    step_out: Vec<f32>,
    dxm: Vec<f32>,
    /// W_hh and W_ih packed once per pass for the products of `kernels::packed`: whole in the first, or one gate's
    /// rows in each with per-gate masks.
    packed_w_hh: [PackedB; 3],
    packed_w_ih: [PackedB; 3],
    /// Backward's W_ih `[G·H, I]` (or each gate's rows `[H, I]`) packed for dx = dgi·W_ih.
    packed_w_ih_rows: [PackedB; 3],
    /// Scratch of the packed weight gradients, `[G·H, I+1]` and `[G·H, H+1]`: `[dW db]` of each weight.
    dw_cat_ih: Vec<f32>,
    dw_cat_hh: Vec<f32>,
}

/// Runs one direction of `cell` over x `[B,T,I]`. `mask[b·T+t] == 0` marks a padded step. The dropout masks must
/// already be in `cache.in_mask` / `cache.rec_mask` (or those be empty).
pub fn recurrent_forward<C: Cell>(cell: &C, dims: LstmDims, reverse: bool, x: &[f32], mask: Option<&[u8]>, p: RecurrentParams, cache: &mut RecurrentCache) {
    let LstmDims { b, t, i, h } = dims;
    let gw = C::GATES * h;
    if b == 0 || t == 0 {
        return;
    }
    let (xg, hg) = (mask_copies(cache.in_mask.len(), b * i), mask_copies(cache.rec_mask.len(), b * h));
    let hw = hg * h;
    let xin = masked_input(dims, xg, x, &cache.in_mask, &mut cache.xm);
    let gates = sized(&mut cache.gates, b * t * gw);
    let ghs = sized(&mut cache.gh, b * t * gw);
    let hs = sized(&mut cache.h, b * t * h);
    let hprev = sized(&mut cache.hprev, b * t * hw);
    let rec_mask: &[f32] = &cache.rec_mask;
    let init_h: &[f32] = &cache.init_h;
    let has_init = !init_h.is_empty();
    let zeros = vec![0.0f32; h];
    let nb = block_of_samples(b);
    let small_batch = b <= SMALL;
    let packed_path = !small_batch && packed::available();
    // The recurrent weights packed once for all T steps, B = W_hhᵀ `[H, G·H]` or each gate's `[H, H]`; and B = W_ihᵀ
    // `[I, G·H]` (or each gate's) for the input projection.
    let packed_wh = (packed_path && (t > 1 || has_init)).then(|| {
        pack_gates(&mut cache.packed_w_hh, hg, h, gw, |r| Mat::new(&p.w_hh[r * h..], Strides::transposed(h)));
        &cache.packed_w_hh
    });
    let packed_wi = packed_path.then(|| {
        pack_gates(&mut cache.packed_w_ih, xg, i, gw, |r| Mat::new(&p.w_ih[r * i..], Strides::transposed(i)));
        &cache.packed_w_ih
    });
    gates
        .par_chunks_mut(nb * t * gw)
        .zip(ghs.par_chunks_mut(nb * t * gw))
        .zip(hs.par_chunks_mut(nb * t * h))
        .zip(hprev.par_chunks_mut(nb * t * hw))
        .enumerate()
        .for_each(|(blk, (((gates, ghs), hs), hprev))| {
            let b0 = blk * nb;
            let bn = gates.len() / (t * gw);
            let xblk = &xin[b0 * t * xg * i..(b0 + bn) * t * xg * i];
            // gi = b_ih + x·W_ihᵀ (gate by gate, each from its own copy of x, with per-gate masks): a window of steps
            // at a time with the packed kernel, else one GEMM over all of the block's rows.
            if packed_wi.is_none() {
                for row in gates.chunks_exact_mut(gw) {
                    row.copy_from_slice(p.b_ih);
                }
                let n = gw / xg;
                for g in 0..xg {
                    let (a, w) = (Mat::new(&xblk[g * i..], Strides::rows(xg * i)), Mat::new(&p.w_ih[g * n * i..], Strides::transposed(i)));
                    gemm_step(small_batch, bn * t, i, n, a, w, 1.0, &mut gates[g * n..], Strides::rows(gw));
                }
            }
            for s in 0..t {
                let tt = if reverse { t - 1 - s } else { s };
                let tp = if reverse { tt + 1 } else { tt.wrapping_sub(1) };
                if let Some(pw_ih) = packed_wi.filter(|_| s % PROJECTION_WINDOW == 0) {
                    project_window(ProjectionBlock { bn, t, i, xg, reverse }, s, xblk, &pw_ih[..xg], p.b_ih, gates);
                }
                if s == 0 && has_init {
                    // Stateful inference: the first step's recurrent input is the carried-over state.
                    for bi in 0..bn {
                        recurrent_input(&init_h[(b0 + bi) * h..][..h], rec_mask, b0 + bi, &mut hprev[(bi * t + tt) * hw..][..hw]);
                    }
                }
                let recurrent = s > 0 || has_init;
                if !recurrent || packed_wh.is_none() {
                    for bi in 0..bn {
                        ghs[(bi * t + tt) * gw..][..gw].copy_from_slice(p.b_hh);
                    }
                }
                if recurrent {
                    // gh[:, tt] = b_hh + hprev[:, tt] · W_hhᵀ over the block's samples (row strides skip time), gate
                    // by gate with per-gate masks.
                    let n = gw / hg;
                    for g in 0..hg {
                        let (a, c) = (&hprev[(tt * hg + g) * h..], &mut ghs[tt * gw + g * n..]);
                        match packed_wh {
                            Some(pw) => gemm_packed_batch_bias(1, bn, a, 0, t * hw, &pw[g], &p.b_hh[g * n..], c, 0, t * gw),
                            None => {
                                let w = Mat::new(&p.w_hh[g * n * h..], Strides::transposed(h));
                                gemm_step(small_batch, bn, h, n, Mat::new(a, Strides::rows(t * hw)), w, 1.0, c, Strides::rows(t * gw));
                            }
                        }
                    }
                } else {
                    for bi in 0..bn {
                        hprev[(bi * t + tt) * hw..][..hw].fill(0.0);
                    }
                }
                for bi in 0..bn {
                    let row = bi * t + tt;
                    let masked = mask.is_some_and(|m| m[(b0 + bi) * t + tt] == 0);
                    let (gi, gh) = (&mut gates[row * gw..][..gw], &ghs[row * gw..][..gw]);
                    if s == 0 {
                        let h_prev: &[f32] = if has_init { &init_h[(b0 + bi) * h..][..h] } else { &zeros };
                        let out = &mut hs[row * h..][..h];
                        if masked {
                            out.copy_from_slice(h_prev);
                        } else {
                            cell.forward(h, gi, gh, h_prev, out);
                        }
                    } else {
                        let (out, h_prev) = row_pair(hs, h, row, bi * t + tp);
                        if masked {
                            out.copy_from_slice(h_prev);
                        } else {
                            cell.forward(h, gi, gh, h_prev, out);
                        }
                    }
                }
                // The next step's recurrent input, through the recurrent dropout mask.
                if s + 1 < t {
                    let tn = if reverse { tt - 1 } else { tt + 1 };
                    for bi in 0..bn {
                        let src = &hs[(bi * t + tt) * h..][..h];
                        recurrent_input(src, rec_mask, b0 + bi, &mut hprev[(bi * t + tn) * hw..][..hw]);
                    }
                }
            }
        });
}

/// Backward of [`recurrent_forward`] for one direction (from a zero initial state, as training runs): accumulates
/// the parameter gradients and, when `dx` is given, adds dL/dx `[B,T,I]` into it. `x` is the input forward saw
/// (before the dropout mask).
#[allow(clippy::too_many_arguments)]
pub fn recurrent_backward<C: Cell>(
    cell: &C,
    dims: LstmDims,
    reverse: bool,
    x: &[f32],
    mask: Option<&[u8]>,
    p: RecurrentParams,
    cache: &mut RecurrentCache,
    dout: OutputGrad,
    grads: RecurrentGrads,
    dx: Option<&mut [f32]>,
) {
    let LstmDims { b, t, i, h } = dims;
    let gw = C::GATES * h;
    if b == 0 || t == 0 {
        return;
    }
    let (xg, hg) = (mask_copies(cache.in_mask.len(), b * i), mask_copies(cache.rec_mask.len(), b * h));
    // Each product of a step covers kg = G·H / hg rows of dgh and W_hh (one gate's with per-gate masks).
    let kg = gw / hg;
    let RecurrentCache {
        xm,
        gates,
        gh,
        h: hs,
        hprev,
        rec_mask,
        in_mask,
        dgi,
        dgh,
        carry_dh,
        step_out,
        dxm,
        packed_w_hh,
        packed_w_ih_rows,
        dw_cat_ih,
        dw_cat_hh,
        ..
    } = cache;
    let small_batch = b <= SMALL;
    let packed_path = !small_batch && packed::available();
    // B = W_hh `[G·H, H]`, or each gate's rows `[H, H]`, packed once for all T steps.
    let packed_w = (packed_path && t > 1).then(|| {
        for (g, pack) in packed_w_hh[..hg].iter_mut().enumerate() {
            pack.pack(kg, h, Mat::new(&p.w_hh[g * kg * h..], Strides::rows(h)));
        }
        &*packed_w_hh
    });
    let dgi = sized(dgi, b * t * gw);
    let dgh = sized(dgh, b * t * gw);
    let carry = sized(carry_dh, b * h);
    carry.fill(0.0);
    let step_out = sized(step_out, b * hg * h);
    let (gates, ghs, hs, rec_mask): (&[f32], &[f32], &[f32], &[f32]) = (gates, gh, hs, rec_mask);
    let zeros = vec![0.0f32; h];
    let nb = block_of_samples(b);
    dgi.par_chunks_mut(nb * t * gw)
        .zip(dgh.par_chunks_mut(nb * t * gw))
        .zip(carry.par_chunks_mut(nb * h))
        .zip(step_out.par_chunks_mut(nb * hg * h))
        .enumerate()
        .for_each(|(blk, (((dgi, dgh), carry), step_out))| {
            let b0 = blk * nb;
            let bn = carry.len() / h;
            for s in (0..t).rev() {
                let tt = if reverse { t - 1 - s } else { s };
                let tp = if reverse { tt + 1 } else { tt.wrapping_sub(1) };
                for bi in 0..bn {
                    let bg = b0 + bi;
                    let masked = mask.is_some_and(|m| m[bg * t + tt] == 0);
                    let dh = &mut carry[bi * h..(bi + 1) * h];
                    // The output's gradient joins the one flowing back from the next step.
                    let from_output = dout.at(bg, t, tt, s, masked, h);
                    if let Some(g) = from_output {
                        dh.iter_mut().zip(g).for_each(|(d, g)| *d += g);
                    }
                    let row = bi * t + tt;
                    let (dgi_row, dgh_row) = (&mut dgi[row * gw..][..gw], &mut dgh[row * gw..][..gw]);
                    if masked {
                        // The step copied h forward: its gradient passes straight through.
                        dgi_row.fill(0.0);
                        dgh_row.fill(0.0);
                        continue;
                    }
                    let at = bg * t + tt;
                    let h_prev = if s > 0 { &hs[(bg * t + tp) * h..][..h] } else { &zeros[..] };
                    cell.backward(h, &gates[at * gw..][..gw], &ghs[at * gw..][..gw], h_prev, &hs[at * h..][..h], dh, dgi_row, dgh_row);
                }
                if s == 0 {
                    continue;
                }
                // dh_{t-1} += (dgh_t · W_hh) ⊙ recurrent mask, a product per gate with per-gate masks.
                for g in 0..hg {
                    let (pw, w) = (packed_w.map(|pw| &pw[g]), Mat::new(&p.w_hh[g * kg * h..], Strides::rows(h)));
                    step_product(pw, small_batch, bn, kg, h, &dgh[tt * gw + g * kg..], t * gw, w, 0.0, &mut step_out[g * h..], hg * h);
                }
                for bi in 0..bn {
                    for g in 0..hg {
                        add_masked(&mut carry[bi * h..(bi + 1) * h], &step_out[(bi * hg + g) * h..][..h], gate_mask_row(rec_mask, b0 + bi, hg, g, h));
                    }
                }
            }
        });

    // The weight gradients of all steps (per gate with per-gate masks, each gate's rows from its own copies of x and
    // h_prev) and the bias gradients: with the packed kernel `[dW_ih db_ih] = dgiᵀ·[x 1]` and `[dW_hh db_hh] =
    // dghᵀ·[h_prev 1]`, two products side by side on the threads; else a GEMM each and column sums.
    let rows = b * t;
    let (dgi, dgh): (&[f32], &[f32]) = (dgi, dgh);
    let xin: &[f32] = if in_mask.is_empty() { x } else { &xm[..rows * xg * i] };
    let kx = gw / xg;
    if packed_path {
        let (ih, hh) = ((xg, i, xin, &mut *dw_cat_ih), (hg, h, &hprev[..], &mut *dw_cat_hh));
        rayon::join(|| packed_weight_grads(rows, gw, dgi, ih, grads.dw_ih, grads.db_ih), || packed_weight_grads(rows, gw, dgh, hh, grads.dw_hh, grads.db_hh));
    } else {
        for g in 0..xg {
            let (dg, xv) = (Mat::new(&dgi[g * kx..], Strides::transposed(gw)), Mat::new(&xin[g * i..], Strides::rows(xg * i)));
            par_gemm(kx, rows, i, 1.0, dg, xv, 1.0, &mut grads.dw_ih[g * kx * i..], Strides::rows(i));
        }
        for g in 0..hg {
            let (dg, hv) = (Mat::new(&dgh[g * kg..], Strides::transposed(gw)), Mat::new(&hprev[g * h..], Strides::rows(hg * h)));
            par_gemm(kg, rows, h, 1.0, dg, hv, 1.0, &mut grads.dw_hh[g * kg * h..], Strides::rows(h));
        }
        par_col_sums_add(dgi, rows, gw, grads.db_ih);
        par_col_sums_add(dgh, rows, gw, grads.db_hh);
    }

    // dx += dgi·W_ih, or with input dropout Σ_g (dgi_g · W_ih_g) ⊙ gate g's input mask.
    let Some(dx) = dx else { return };
    if packed_path {
        // B = W_ih `[G·H, I]` or each gate's rows; the threads take blocks of samples, each element one sum in order
        // whatever the split.
        for (g, pack) in packed_w_ih_rows[..xg].iter_mut().enumerate() {
            pack.pack(kx, i, Mat::new(&p.w_ih[g * kx * i..], Strides::rows(i)));
        }
        let packs = &packed_w_ih_rows[..xg];
        let nb = block_of_samples(b);
        let in_mask: &[f32] = in_mask;
        if in_mask.is_empty() {
            dx[..rows * i].par_chunks_mut(nb * t * i).enumerate().for_each(|(blk, dx)| {
                gemm_packed(dx.len() / i, &dgi[blk * nb * t * gw..], gw, &packs[0], 1.0, dx, i);
            });
        } else {
            let dxm = sized(dxm, rows * i);
            dx[..rows * i].par_chunks_mut(nb * t * i).zip(dxm.par_chunks_mut(nb * t * i)).enumerate().for_each(|(blk, (dx, dxm))| {
                let (b0, m) = (blk * nb, dx.len() / i);
                for (g, pack) in packs.iter().enumerate() {
                    gemm_packed(m, &dgi[b0 * t * gw + g * kx..], gw, pack, 0.0, dxm, i);
                    for (bi, (d, s)) in dx.chunks_exact_mut(t * i).zip(dxm.chunks_exact(t * i)).enumerate() {
                        let mask = gate_mask_row(in_mask, b0 + bi, xg, g, i);
                        d.chunks_exact_mut(i).zip(s.chunks_exact(i)).for_each(|(d, s)| add_masked(d, s, mask));
                    }
                }
            });
        }
    } else if in_mask.is_empty() {
        par_gemm(rows, gw, i, 1.0, Mat::new(dgi, Strides::rows(gw)), Mat::new(p.w_ih, Strides::rows(i)), 1.0, dx, Strides::rows(i));
    } else {
        let dxm = sized(dxm, rows * i);
        for g in 0..xg {
            let (dg, w) = (Mat::new(&dgi[g * kx..], Strides::rows(gw)), Mat::new(&p.w_ih[g * kx * i..], Strides::rows(i)));
            par_gemm(rows, kx, i, 1.0, dg, w, 0.0, dxm, Strides::rows(i));
            for bi in 0..b {
                let m = gate_mask_row(in_mask, bi, xg, g, i);
                for (d, s) in dx[bi * t * i..(bi + 1) * t * i].chunks_exact_mut(i).zip(dxm[bi * t * i..(bi + 1) * t * i].chunks_exact(i)) {
                    add_masked(d, s, m);
                }
            }
        }
    }
}

/// `[dW db] += dgᵀ·[X 1]` for one weight `[G·H, n]` over all `rows` rows on the packed kernel: dg `[rows, G·H]`
/// (`gw` = G·H), and `copies` copies of X `[rows, n]` side by side in `xs` (one per gate with per-gate masks, gate g
/// then reads its own). `out` is scratch for `[G·H, n+1]`.
fn packed_weight_grads(rows: usize, gw: usize, dg: &[f32], (copies, n, xs, out): (usize, usize, &[f32], &mut Vec<f32>), dw: &mut [f32], db: &mut [f32]) {
    let (kg, w) = (gw / copies, n + 1);
    let out = sized(out, gw * w);
    let x_copy = |g: usize| Mat::new(&xs[g * n..], Strides::rows(copies * n));
    if copies == 1 {
        weight_grads_packed(rows, gw, dg, gw, &[(n, x_copy(0)), (1, ONES)], out);
    } else {
        // A gate per task: each gate's copy of X is packed by one thread only.
        out.par_chunks_mut(kg * w).enumerate().for_each(|(g, o)| weight_grads_rows(rows, &dg[g * kg..], gw, &[(n, x_copy(g)), (1, ONES)], o));
    }
    for (r, row) in out.chunks_exact(w).enumerate() {
        dw[r * n..(r + 1) * n].iter_mut().zip(&row[..n]).for_each(|(d, s)| *d += s);
        db[r] += row[n];
    }
}

// ---------------------------------------------------------------------------------------------------------------
// The layer

/// The options a recurrent layer shares with the others of its family.
#[derive(Clone, Copy, Debug)]
pub struct RecurrentSpec {
    /// The layer kind's name in messages (`gru`, `simpleRnn`).
    pub kind: &'static str,
    pub units: usize,
    pub return_sequences: bool,
    pub dropout: f32,
    pub recurrent_dropout: f32,
    pub bidirectional: bool,
}

/// A recurrent layer of one or two directions: per direction `weight_ih` `[G·H,I]`, `weight_hh` `[G·H,H]`,
/// `bias_ih` and `bias_hh` `[G·H]` (`_reverse` names for the second), PyTorch's layout.
pub struct Recurrent<C: Cell> {
    cell: C,
    spec: RecurrentSpec,
    index: usize,
    /// One cache per direction.
    caches: Vec<RecurrentCache>,
}

/// Builds a recurrent layer of `cell` for `input`, with the initializers of `weight_ih`, `weight_hh` and the biases.
pub fn build<C: Cell>(cell: C, spec: RecurrentSpec, inits: [&Initializer; 3], index: usize, input: FeatureShape) -> Result<Built> {
    if !input.seq {
        return Err(LstmError::InvalidConfig(format!(
            "layer {index} ({}) needs a sequence input [B, T, F], but the layer before it outputs [B, F]",
            spec.kind
        )));
    }
    let h = spec.units;
    let gw = checked_mul(index, h, C::GATES)?;
    checked_mul(index, gw, input.f.max(h))?;
    let dirs = if spec.bidirectional { 2 } else { 1 };
    let mut params = Vec::with_capacity(4 * dirs);
    for d in 0..dirs {
        let sfx = if d == 1 { "_reverse" } else { "" };
        params.push(ParamSpec { name: format!("weight_ih{sfx}"), shape: vec![gw, input.f], init: inits[0].clone() });
        params.push(ParamSpec { name: format!("weight_hh{sfx}"), shape: vec![gw, h], init: inits[1].clone() });
        params.push(ParamSpec { name: format!("bias_ih{sfx}"), shape: vec![gw], init: inits[2].clone() });
        params.push(ParamSpec { name: format!("bias_hh{sfx}"), shape: vec![gw], init: inits[2].clone() });
    }
    let f = checked_mul(index, h, dirs)?;
    let caches = (0..dirs).map(|_| RecurrentCache::default()).collect();
    Ok(Built { layer: Box::new(Recurrent { cell, spec, index, caches }), params, output: FeatureShape { f, seq: spec.return_sequences } })
}

/// The output of a recurrent layer of `units` for `input`.
pub fn output_shape(units: usize, return_sequences: bool, bidirectional: bool, input: ActShape) -> ActShape {
    ActShape { b: input.b, t: if return_sequences { input.t } else { None }, f: units * if bidirectional { 2 } else { 1 } }
}

impl<C: Cell> Layer for Recurrent<C> {
    fn forward(&mut self, fw: Forward<'_>, out: &mut Vec<f32>) -> Result<(ActShape, MaskOut)> {
        let spec = self.spec;
        let shape = fw.shape;
        let t = steps(self.index, spec.kind, shape)?;
        let h = spec.units;
        let dims = LstmDims { b: shape.b, t, i: shape.f, h };
        let out_shape = output_shape(h, spec.return_sequences, spec.bidirectional, shape);
        out.resize(out_shape.len(), 0.0);
        // With recurrent dropout Keras draws the masks per gate.
        let copies = if spec.recurrent_dropout > 0.0 { C::GATES } else { 1 };
        for (d, cache) in self.caches.iter_mut().enumerate() {
            draw_masks(&fw, d, (spec.dropout, spec.recurrent_dropout), copies, h, &mut cache.in_mask, &mut cache.rec_mask);
            let p = |k: usize| fw.params.get(4 * d + k);
            let rp = RecurrentParams { w_ih: p(0), w_hh: p(1), b_ih: p(2), b_hh: p(3) };
            recurrent_forward(&self.cell, dims, d == 1, fw.x, fw.mask, rp, cache);
        }
        if shape.b > 0 && t > 0 {
            let hs: Vec<&[f32]> = self.caches.iter().map(|c| c.h.as_slice()).collect();
            assemble_output(shape.b, t, h, spec.return_sequences, &hs, fw.mask, out);
        } else {
            out.fill(0.0);
        }
        Ok((out_shape, if spec.return_sequences { MaskOut::Keep } else { MaskOut::Drop }))
    }

    fn backward(&mut self, bw: Backward<'_>) {
        let Backward { x, shape, mask, dy, mut dx, params, ranges, mut grads, .. } = bw;
        let h = self.spec.units;
        let dims = LstmDims { b: shape.b, t: shape.t.unwrap_or(0), i: shape.f, h };
        let dirs = self.caches.len();
        if let Some(dx) = dx.as_deref_mut() {
            dx.fill(0.0);
        }
        let params: &[f32] = params;
        let mut rest = &mut grads[..];
        for (d, cache) in self.caches.iter_mut().enumerate() {
            let dout = if self.spec.return_sequences {
                OutputGrad::Sequence { dy, features: h * dirs, offset: d * h, zero_masked: dirs == 2 }
            } else {
                OutputGrad::Last { dy, features: h * dirs, offset: d * h }
            };
            let p = |k: usize| &params[ranges[4 * d + k].clone()];
            let rp = RecurrentParams { w_ih: p(0), w_hh: p(1), b_ih: p(2), b_hh: p(3) };
            let (g, tail) = std::mem::take(&mut rest).split_at_mut(4);
            rest = tail;
            let [dw_ih, dw_hh, db_ih, db_hh] = g else { unreachable!("four tensors per direction") };
            let stored = "a recurrent layer's gradients are stored (it offers no low-rank ones)";
            let rg = RecurrentGrads {
                dw_ih: dw_ih.as_deref_mut().expect(stored),
                dw_hh: dw_hh.as_deref_mut().expect(stored),
                db_ih: db_ih.as_deref_mut().expect(stored),
                db_hh: db_hh.as_deref_mut().expect(stored),
            };
            recurrent_backward(&self.cell, dims, d == 1, x, mask, rp, cache, dout, rg, dx.as_deref_mut());
        }
    }

    fn reserve(&mut self, shape: ActShape, training: bool) -> Result<()> {
        let spec = self.spec;
        let t = steps(self.index, spec.kind, shape)?;
        let (b, i, h, g) = (shape.b, shape.f, spec.units, C::GATES);
        // As `forward` draws the masks (`draw_masks`): present in training with a rate, one per gate with recurrent
        // dropout.
        let copies = if spec.recurrent_dropout > 0.0 { g } else { 1 };
        let (in_mask, rec_mask) = (training && spec.dropout > 0.0, training && spec.recurrent_dropout > 0.0);
        let hg = if rec_mask { copies } else { 1 };
        for cache in &mut self.caches {
            let RecurrentCache { xm, gates, gh, h: hs, hprev, in_mask: im, rec_mask: rm, dgi, dgh, carry_dh, step_out, dxm, .. } = cache;
            let mut buffers: Reserved = vec![
                (gates, vec![b, t, g, h], "input gates"),
                (gh, vec![b, t, g, h], "recurrent gates"),
                (hs, vec![b, t, h], "hidden states"),
                (hprev, vec![b, t, hg, h], "previous hidden states"),
            ];
            mask_buffers(&mut buffers, LstmDims { b, t, i, h }, copies, (in_mask, rec_mask), [im, xm, rm]);
            if training {
                buffers.extend([
                    (dgi, vec![b, t, g, h], "input gate gradients"),
                    (dgh, vec![b, t, g, h], "recurrent gate gradients"),
                    (carry_dh, vec![b, h], "hidden state gradient"),
                    (step_out, vec![b, hg, h], "step products"),
                ]);
                if in_mask {
                    buffers.push((dxm, vec![b, t, i], "masked input gradient"));
                }
            }
            room_all(self.index, spec.kind, &mut buffers)?;
        }
        Ok(())
    }

    fn release(&mut self) {
        self.caches.iter_mut().for_each(|c| *c = RecurrentCache::default());
    }

    fn is_recurrent(&self) -> bool {
        true
    }

    fn stateful_unsupported(&self) -> Option<String> {
        self.spec
            .bidirectional
            .then(|| format!("predictStep cannot carry state through a bidirectional {} (its backward pass needs the whole sequence)", self.spec.kind))
    }

    fn set_initial_state(&mut self, b: usize, state: Option<&RecurrentState>) -> Result<()> {
        let n = b.saturating_mul(self.spec.units);
        let state = state.filter(|s| s.len() == 1);
        state_buffer(&mut self.caches[0].init_h, state.map(|s| &s[0]), n, self.index, self.spec.kind)
    }

    fn take_final_state(&mut self, b: usize, t: usize, ok: bool) -> Result<Option<RecurrentState>> {
        let hu = self.spec.units;
        let cache = &mut self.caches[0];
        // Cleared first: training and `predict` must start from zeros even when the state cannot be kept.
        cache.init_h.clear();
        let mut h = Vec::new();
        state_buffer(&mut h, None, b.saturating_mul(hu), self.index, self.spec.kind)?;
        if ok && t > 0 {
            for bi in 0..b {
                h[bi * hu..(bi + 1) * hu].copy_from_slice(&cache.h[(bi * t + t - 1) * hu..][..hu]);
            }
        }
        Ok(Some(vec![h]))
    }
}
