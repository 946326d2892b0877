//! SimpleRNN, Keras's (PyTorch's `nn.RNN` names): h' = act(W_ih x + b_ih + W_hh h + b_hh), act tanh by default
//! (also relu, sigmoid or linear). The time loop is [`super::recurrent`]'s.

use super::recurrent::{self, Cell, RecurrentSpec};
use super::{Built, FeatureShape};
use crate::config::{Activation, SimpleRnnConfig};
use crate::error::Result;
use crate::kernels::act::{flush_tiny, sigmoid_fast, tanh_fast};
use crate::kernels::simd::{dispatch, MulAdd};
use crate::model::ActShape;

/// The SimpleRNN cell and its activation (validated not to be softmax).
pub struct RnnCell {
    activation: Activation,
}

/// One forward step, h = act(gi + gh) (the dispatched body of [`RnnCell::forward`]; `dispatch!` passes every body a
/// multiply-add kind, which this one has no use for).
#[inline(always)]
#[allow(clippy::extra_unused_type_parameters)]
fn rnn_forward_body<M: MulAdd>(activation: Activation, h: usize, gi: &[f32], gh: &[f32], h_out: &mut [f32]) {
    let (gi, gh, out) = (&gi[..h], &gh[..h], &mut h_out[..h]);
    match activation {
        Activation::Tanh => out.iter_mut().zip(gi).zip(gh).for_each(|((o, a), b)| *o = tanh_fast(a + b)),
        Activation::Relu => out.iter_mut().zip(gi).zip(gh).for_each(|((o, a), b)| *o = (a + b).max(0.0)),
        Activation::Sigmoid => out.iter_mut().zip(gi).zip(gh).for_each(|((o, a), b)| *o = sigmoid_fast(a + b)),
        Activation::Linear | Activation::Softmax => out.iter_mut().zip(gi).zip(gh).for_each(|((o, a), b)| *o = a + b),
    }
}

/// One backward step: dgi = dgh = dh ⊙ act'(h); h_prev reaches h only through W_hh (the dispatched body of
/// [`RnnCell::backward`]).
#[inline(always)]
fn rnn_backward_body<M: MulAdd>(activation: Activation, h: usize, h_out: &[f32], dh: &mut [f32], dgi: &mut [f32], dgh: &mut [f32]) {
    let (y, dh, dgi, dgh) = (&h_out[..h], &mut dh[..h], &mut dgi[..h], &mut dgh[..h]);
    for j in 0..h {
        let slope = match activation {
            Activation::Tanh => M::mul_add(-y[j], y[j], 1.0),
            Activation::Relu => (y[j] > 0.0) as u8 as f32,
            Activation::Sigmoid => y[j] * (1.0 - y[j]),
            Activation::Linear | Activation::Softmax => 1.0,
        };
        let da = flush_tiny(dh[j] * slope);
        dgi[j] = da;
        dgh[j] = da;
        dh[j] = 0.0;
    }
}

dispatch!(fn rnn_forward(activation: Activation, h: usize, gi: &[f32], gh: &[f32], h_out: &mut [f32]) => rnn_forward_body);
dispatch!(fn rnn_backward(activation: Activation, h: usize, h_out: &[f32], dh: &mut [f32], dgi: &mut [f32], dgh: &mut [f32]) => rnn_backward_body);

impl Cell for RnnCell {
    const GATES: usize = 1;

    fn forward(&self, h: usize, gi: &mut [f32], gh: &[f32], _h_prev: &[f32], h_out: &mut [f32]) {
        rnn_forward(self.activation, h, gi, gh, h_out)
    }

    fn backward(&self, h: usize, _gi: &[f32], _gh: &[f32], _h_prev: &[f32], h_out: &[f32], dh: &mut [f32], dgi: &mut [f32], dgh: &mut [f32]) {
        rnn_backward(self.activation, h, h_out, dh, dgi, dgh)
    }
}

pub fn build(c: &SimpleRnnConfig, index: usize, input: FeatureShape) -> Result<Built> {
    let spec = RecurrentSpec {
        kind: "simpleRnn",
        units: c.units,
        return_sequences: c.return_sequences,
        dropout: c.dropout,
        recurrent_dropout: c.recurrent_dropout,
        bidirectional: c.bidirectional,
    };
    let cell = RnnCell { activation: c.activation };
    recurrent::build(cell, spec, [&c.kernel_initializer, &c.recurrent_initializer, &c.bias_initializer], index, input)
}

pub fn output_shape(c: &SimpleRnnConfig, input: ActShape) -> ActShape {
    recurrent::output_shape(c.units, c.return_sequences, c.bidirectional, input)
}
