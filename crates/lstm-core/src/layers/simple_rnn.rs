//! SimpleRNN, Keras's (PyTorch's `nn.RNN` names): h' = act(W_ih x + b_ih + W_hh h + b_hh), act tanh by default
//! (also relu, sigmoid or linear). The time loop is [`super::recurrent`]'s.

use super::recurrent::{self, Cell, RecurrentSpec};
use super::{Built, FeatureShape};
use crate::config::{Activation, SimpleRnnConfig};
use crate::error::Result;
use crate::kernels::act::{flush_tiny, sigmoid_fast, tanh_fast};
use crate::model::ActShape;

/// The SimpleRNN cell and its activation (validated not to be softmax).
pub struct RnnCell {
    activation: Activation,
}

impl Cell for RnnCell {
    const GATES: usize = 1;

    fn forward(&self, h: usize, gi: &mut [f32], gh: &[f32], _h_prev: &[f32], h_out: &mut [f32]) {
        let (gi, gh, out) = (&gi[..h], &gh[..h], &mut h_out[..h]);
        match self.activation {
            Activation::Tanh => out.iter_mut().zip(gi).zip(gh).for_each(|((o, a), b)| *o = tanh_fast(a + b)),
            Activation::Relu => out.iter_mut().zip(gi).zip(gh).for_each(|((o, a), b)| *o = (a + b).max(0.0)),
            Activation::Sigmoid => out.iter_mut().zip(gi).zip(gh).for_each(|((o, a), b)| *o = sigmoid_fast(a + b)),
            Activation::Linear | Activation::Softmax => out.iter_mut().zip(gi).zip(gh).for_each(|((o, a), b)| *o = a + b),
        }
    }

    fn backward(&self, h: usize, _gi: &[f32], _gh: &[f32], _h_prev: &[f32], h_out: &[f32], dh: &mut [f32], dgi: &mut [f32], dgh: &mut [f32]) {
        for j in 0..h {
            let y = h_out[j];
            let slope = match self.activation {
                Activation::Tanh => 1.0 - y * y,
                Activation::Relu => (y > 0.0) as u8 as f32,
                Activation::Sigmoid => y * (1.0 - y),
                Activation::Linear | Activation::Softmax => 1.0,
            };
            let da = flush_tiny(dh[j] * slope);
            dgi[j] = da;
            dgh[j] = da;
            // h_prev reaches h' only through W_hh.
            dh[j] = 0.0;
        }
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
