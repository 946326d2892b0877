//! GRU, Keras's with `reset_after=True` (its default), which is PyTorch's. Gate blocks r, z, n (PyTorch's order):
//!   r = σ(W_ir x + b_ir + W_hr h + b_hr),   z = σ(W_iz x + b_iz + W_hz h + b_hz)
//!   n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn)),   h' = (1 − z) ⊙ n + z ⊙ h
//! b_hh stays apart from b_ih because r multiplies W_hn h + b_hn. The time loop is [`super::recurrent`]'s; with
//! recurrent dropout the three gates get their own masks, as Keras 3's GRU cell, and h' mixes in the unmasked h.

use super::recurrent::{self, Cell, RecurrentSpec};
use super::{Built, FeatureShape};
use crate::config::GruConfig;
use crate::error::Result;
use crate::kernels::act::{flush_tiny, sigmoid_fast, tanh_fast};
use crate::kernels::simd::{dispatch, MulAdd};
use crate::model::ActShape;

/// The GRU cell; forward keeps the activated r, z, n in the input part's row.
pub struct GruCell;

/// One forward step: r, z, n over `h` units (the dispatched body of [`GruCell::forward`]).
#[inline(always)]
fn gru_forward_body<M: MulAdd>(h: usize, gi: &mut [f32], gh: &[f32], h_prev: &[f32], h_out: &mut [f32]) {
    let (r, rest) = gi[..3 * h].split_at_mut(h);
    let (z, n) = rest.split_at_mut(h);
    let (ghr, ghz, ghn, h_prev, h_out) = (&gh[..h], &gh[h..2 * h], &gh[2 * h..3 * h], &h_prev[..h], &mut h_out[..h]);
    for j in 0..h {
        let rj = sigmoid_fast(r[j] + ghr[j]);
        let zj = sigmoid_fast(z[j] + ghz[j]);
        let nj = tanh_fast(M::mul_add(rj, ghn[j], n[j]));
        r[j] = rj;
        z[j] = zj;
        n[j] = nj;
        // (1 − z)·n + z·h_prev
        h_out[j] = M::mul_add(zj, h_prev[j] - nj, nj);
    }
}

/// One backward step (the dispatched body of [`GruCell::backward`]).
#[inline(always)]
fn gru_backward_body<M: MulAdd>(h: usize, gi: &[f32], gh: &[f32], h_prev: &[f32], dh: &mut [f32], dgi: &mut [f32], dgh: &mut [f32]) {
    let (r, z, n, ghn, h_prev) = (&gi[..h], &gi[h..2 * h], &gi[2 * h..3 * h], &gh[2 * h..3 * h], &h_prev[..h]);
    let (dgi, dgh, dh) = (&mut dgi[..3 * h], &mut dgh[..3 * h], &mut dh[..h]);
    for j in 0..h {
        let d = dh[j];
        // Through n's tanh, z's and r's sigmoids; r reaches the loss through r ⊙ (W_hn h + b_hn).
        let dn = flush_tiny(d * (1.0 - z[j]) * M::mul_add(-n[j], n[j], 1.0));
        let dz = flush_tiny(d * (h_prev[j] - n[j]) * z[j] * (1.0 - z[j]));
        let dr = flush_tiny(dn * ghn[j] * r[j] * (1.0 - r[j]));
        dgi[j] = dr;
        dgh[j] = dr;
        dgi[h + j] = dz;
        dgh[h + j] = dz;
        dgi[2 * h + j] = dn;
        dgh[2 * h + j] = flush_tiny(dn * r[j]);
        dh[j] = flush_tiny(d * z[j]);
    }
}

dispatch!(fn gru_forward(h: usize, gi: &mut [f32], gh: &[f32], h_prev: &[f32], h_out: &mut [f32]) => gru_forward_body);
dispatch!(fn gru_backward(h: usize, gi: &[f32], gh: &[f32], h_prev: &[f32], dh: &mut [f32], dgi: &mut [f32], dgh: &mut [f32]) => gru_backward_body);

impl Cell for GruCell {
    const GATES: usize = 3;

    fn forward(&self, h: usize, gi: &mut [f32], gh: &[f32], h_prev: &[f32], h_out: &mut [f32]) {
        gru_forward(h, gi, gh, h_prev, h_out)
    }

    fn backward(&self, h: usize, gi: &[f32], gh: &[f32], h_prev: &[f32], _h_out: &[f32], dh: &mut [f32], dgi: &mut [f32], dgh: &mut [f32]) {
        gru_backward(h, gi, gh, h_prev, dh, dgi, dgh)
    }
}

pub fn build(c: &GruConfig, index: usize, input: FeatureShape) -> Result<Built> {
    let spec = RecurrentSpec {
        kind: "gru",
        units: c.units,
        return_sequences: c.return_sequences,
        dropout: c.dropout,
        recurrent_dropout: c.recurrent_dropout,
        bidirectional: c.bidirectional,
    };
    recurrent::build(GruCell, spec, [&c.kernel_initializer, &c.recurrent_initializer, &c.bias_initializer], index, input)
}

pub fn output_shape(c: &GruConfig, input: ActShape) -> ActShape {
    recurrent::output_shape(c.units, c.return_sequences, c.bidirectional, input)
}
