//! SimpleRNN, Keras's (PyTorch's `nn.RNN` names):
//!   a = W_ih x + b_ih + W_hh h + b_hh,   h' = act(a)      (W_ih `[H,I]`, W_hh `[H,H]`, biases `[H]`)
//! act tanh (default), relu, sigmoid or linear, with Keras's semantics:
//! - `maskZero`: a masked step keeps h (the output repeats the previous state);
//! - dropout: one input mask `[B,I]` and one recurrent mask `[B,H]` drawn once per sequence;
//! - bidirectional and `returnSequences` as the other recurrent layers ([`super::recurrent`]);
//! - stateful inference starts from a given h instead of zeros.

use super::recurrent::{apply_mask, layer_backward, layer_forward, RecurrentGrads, RecurrentMasks, RecurrentWeights, Run, Trace};
use crate::config::Activation;
use ndarray::{s, Array1, Array2, Array3};

/// act(a)
fn act(f: Activation, a: f64) -> f64 {
    match f {
        Activation::Tanh => a.tanh(),
        Activation::Relu => a.max(0.0),
        Activation::Sigmoid => super::sigmoid(a),
        Activation::Linear => a,
        Activation::Softmax => unreachable!("the configuration rejects a softmax SimpleRNN"),
    }
}

/// act'(a)
fn act_slope(f: Activation, a: f64) -> f64 {
    match f {
        Activation::Tanh => 1.0 - a.tanh().powi(2),
        Activation::Relu => (a > 0.0) as u8 as f64,
        Activation::Sigmoid => super::sigmoid(a) * (1.0 - super::sigmoid(a)),
        Activation::Linear => 1.0,
        Activation::Softmax => unreachable!("the configuration rejects a softmax SimpleRNN"),
    }
}

/// What backward needs, per sample and time step (indexed by the step's time t, not its processing order).
pub struct RnnTrace {
    /// Direction, masks and h.
    pub run: Run,
    pub activation: Activation,
    /// x_t and h_{t-1} after their dropout masks, `[B,T,I]` and `[B,T,H]`.
    pub xin: Array3<f64>,
    pub hin: Array3<f64>,
    /// The pre-activation a `[B,T,H]`.
    pub a: Array3<f64>,
}

impl Trace for RnnTrace {
    fn run(&self) -> &Run {
        &self.run
    }
}

/// One direction over x `[B,T,I]`, from `init` `[B,H]` or zeros.
pub fn simple_rnn_forward(
    w: &RecurrentWeights,
    activation: Activation,
    x: &Array3<f64>,
    mask: Option<&Array2<bool>>,
    masks: &RecurrentMasks,
    init: Option<&Array2<f64>>,
    reverse: bool,
) -> RnnTrace {
    let (b, t, i) = x.dim();
    let h = w.units();
    let mut tr = RnnTrace {
        run: Run::new(reverse, mask, masks, (b, t, h)),
        activation,
        xin: Array3::zeros((b, t, i)),
        hin: Array3::zeros((b, t, h)),
        a: Array3::zeros((b, t, h)),
    };
    for bi in 0..b {
        let mut hs: Array1<f64> = match init {
            Some(h0) => h0.row(bi).to_owned(),
            None => Array1::zeros(h),
        };
        for step in 0..t {
            let tt = tr.run.time(step, t);
            let xm = apply_mask(&x.slice(s![bi, tt, ..]), masks.input.as_ref(), bi, 0);
            let hm = apply_mask(&hs.view(), masks.recurrent.as_ref(), bi, 0);
            if !tr.run.masked(bi, tt) {
                let a = w.w_ih.dot(&xm) + &w.b_ih + w.w_hh.dot(&hm) + &w.b_hh;
                hs = a.mapv(|v| act(activation, v));
                tr.a.slice_mut(s![bi, tt, ..]).assign(&a);
            }
            tr.xin.slice_mut(s![bi, tt, ..]).assign(&xm);
            tr.hin.slice_mut(s![bi, tt, ..]).assign(&hm);
            tr.run.h.slice_mut(s![bi, tt, ..]).assign(&hs);
        }
        tr.run.h_final.row_mut(bi).assign(&hs);
    }
    tr
}

/// Backward of [`simple_rnn_forward`] from the gradients reaching each step's output, `dh` `[B,T,H]`, and the final
/// state, `dh_final` `[B,H]`.
pub fn simple_rnn_backward(w: &RecurrentWeights, tr: &RnnTrace, dh: &Array3<f64>, dh_final: &Array2<f64>) -> RecurrentGrads {
    let (b, t, _) = tr.xin.dim();
    let mut gr = RecurrentGrads::zeros(w, b, t);
    for bi in 0..b {
        let mut dh_next = dh_final.row(bi).to_owned();
        for step in (0..t).rev() {
            let tt = tr.run.time(step, t);
            let dh_t = &dh_next + &dh.slice(s![bi, tt, ..]);
            if tr.run.masked(bi, tt) {
                // h_t = h_{t-1}: the gradient passes straight through.
                dh_next = dh_t;
                continue;
            }
            // da = dh ⊙ act'(a)
            let da = &dh_t * &tr.a.slice(s![bi, tt, ..]).mapv(|v| act_slope(tr.activation, v));
            // Both parts of a get da; h_{t-1} reaches h_t only through W_hh.
            let (xin, hin) = (tr.xin.slice(s![bi, tt, ..]), tr.hin.slice(s![bi, tt, ..]));
            dh_next = gr.add_gate(w, &tr.run.masks, 0, (bi, tt), &da, &da, xin, hin);
        }
    }
    gr
}

/// A whole SimpleRNN layer: one or two directions over x `[B,T,I]`, output as [`layer_forward`]'s.
pub fn simple_rnn_layer_forward(
    weights: &[RecurrentWeights],
    activation: Activation,
    x: &Array3<f64>,
    mask: Option<&Array2<bool>>,
    masks: &[RecurrentMasks],
    init: Option<&Array2<f64>>,
    return_sequences: bool,
) -> (Array3<f64>, Vec<RnnTrace>) {
    layer_forward(weights.len(), mask, return_sequences, |d| simple_rnn_forward(&weights[d], activation, x, mask, &masks[d], init, d == 1))
}

/// Backward of [`simple_rnn_layer_forward`] from dy (shaped like its output): per-direction gradients and dx
/// `[B,T,I]`.
pub fn simple_rnn_layer_backward(
    weights: &[RecurrentWeights],
    traces: &[RnnTrace],
    dy: &Array3<f64>,
    return_sequences: bool,
) -> (Vec<RecurrentGrads>, Array3<f64>) {
    layer_backward(traces, dy, return_sequences, |d, dh, dh_final| simple_rnn_backward(&weights[d], &traces[d], dh, dh_final), |g| &g.dx)
}
