//! SimpleRNN, Keras's (PyTorch's `nn.RNN` names):
//!   a = W_ih x + b_ih + W_hh h + b_hh,   h' = act(a)      (W_ih `[H,I]`, W_hh `[H,H]`, biases `[H]`)
//! act tanh (default), relu, sigmoid or linear, with Keras's semantics:
//! - `maskZero`: a masked step keeps h (the output repeats the previous state);
//! - dropout: one input mask `[B,I]` and one recurrent mask `[B,H]` drawn once per sequence;
//! - bidirectional and `returnSequences` as the other recurrent layers ([`super::recurrent`]);
//! - stateful inference starts from a given h instead of zeros.

use super::recurrent::{apply_mask, direction_grads, layer_output, outer, RecurrentMasks, RecurrentWeights};
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
    pub reverse: bool,
    pub activation: Activation,
    /// `mask[b,t]` false: a padded step.
    pub mask: Option<Array2<bool>>,
    pub masks: RecurrentMasks,
    /// x_t and h_{t-1} after their dropout masks, `[B,T,I]` and `[B,T,H]`.
    pub xin: Array3<f64>,
    pub hin: Array3<f64>,
    /// The pre-activation a `[B,T,H]`.
    pub a: Array3<f64>,
    /// h after each step `[B,T,H]` and after the last step processed `[B,H]`.
    pub h: Array3<f64>,
    pub h_final: Array2<f64>,
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
        reverse,
        activation,
        mask: mask.cloned(),
        masks: masks.clone(),
        xin: Array3::zeros((b, t, i)),
        hin: Array3::zeros((b, t, h)),
        a: Array3::zeros((b, t, h)),
        h: Array3::zeros((b, t, h)),
        h_final: Array2::zeros((b, h)),
    };
    for bi in 0..b {
        let mut hs: Array1<f64> = match init {
            Some(h0) => h0.row(bi).to_owned(),
            None => Array1::zeros(h),
        };
        for step in 0..t {
            let tt = if reverse { t - 1 - step } else { step };
            let xm = apply_mask(&x.slice(s![bi, tt, ..]), masks.input.as_ref(), bi, 0);
            let hm = apply_mask(&hs.view(), masks.recurrent.as_ref(), bi, 0);
            if !mask.is_some_and(|m| !m[[bi, tt]]) {
                let a = w.w_ih.dot(&xm) + &w.b_ih + w.w_hh.dot(&hm) + &w.b_hh;
                hs = a.mapv(|v| act(activation, v));
                tr.a.slice_mut(s![bi, tt, ..]).assign(&a);
            }
            tr.xin.slice_mut(s![bi, tt, ..]).assign(&xm);
            tr.hin.slice_mut(s![bi, tt, ..]).assign(&hm);
            tr.h.slice_mut(s![bi, tt, ..]).assign(&hs);
        }
        tr.h_final.row_mut(bi).assign(&hs);
    }
    tr
}

pub struct RnnGrads {
    pub dw_ih: Array2<f64>, // [H,I]
    pub dw_hh: Array2<f64>, // [H,H]
    /// db_ih = db_hh = Σ da `[H]`.
    pub db: Array1<f64>,
    pub dx: Array3<f64>, // [B,T,I]
}

/// Backward of [`simple_rnn_forward`] from the gradients reaching each step's output, `dh` `[B,T,H]`, and the final
/// state, `dh_final` `[B,H]`.
pub fn simple_rnn_backward(w: &RecurrentWeights, tr: &RnnTrace, dh: &Array3<f64>, dh_final: &Array2<f64>) -> RnnGrads {
    let (b, t, i) = tr.xin.dim();
    let h = w.units();
    let mut gr = RnnGrads { dw_ih: Array2::zeros((h, i)), dw_hh: Array2::zeros((h, h)), db: Array1::zeros(h), dx: Array3::zeros((b, t, i)) };
    for bi in 0..b {
        let mut dh_next = dh_final.row(bi).to_owned();
        for step in (0..t).rev() {
            let tt = if tr.reverse { t - 1 - step } else { step };
            let dh_t = &dh_next + &dh.slice(s![bi, tt, ..]);
            if tr.mask.as_ref().is_some_and(|m| !m[[bi, tt]]) {
                // h_t = h_{t-1}: the gradient passes straight through.
                dh_next = dh_t;
                continue;
            }
            // da = dh ⊙ act'(a)
            let da = &dh_t * &tr.a.slice(s![bi, tt, ..]).mapv(|v| act_slope(tr.activation, v));
            gr.dw_ih += &outer(&da.view(), &tr.xin.slice(s![bi, tt, ..]));
            gr.dw_hh += &outer(&da.view(), &tr.hin.slice(s![bi, tt, ..]));
            gr.db += &da;
            // dx_t = (W_ihᵀ da) ⊙ input mask;  dh_{t-1} = (W_hhᵀ da) ⊙ recurrent mask (h_{t-1} reaches h_t only so)
            let mut dxt = w.w_ih.t().dot(&da);
            if let Some(m) = &tr.masks.input {
                dxt *= &m.slice(s![bi, 0, ..]);
            }
            gr.dx.slice_mut(s![bi, tt, ..]).assign(&dxt);
            let mut dhp = w.w_hh.t().dot(&da);
            if let Some(m) = &tr.masks.recurrent {
                dhp *= &m.slice(s![bi, 0, ..]);
            }
            dh_next = dhp;
        }
    }
    gr
}

/// A whole SimpleRNN layer: one or two directions over x `[B,T,I]`; output as [`layer_output`].
pub fn simple_rnn_layer_forward(
    weights: &[RecurrentWeights],
    activation: Activation,
    x: &Array3<f64>,
    mask: Option<&Array2<bool>>,
    masks: &[RecurrentMasks],
    init: Option<&Array2<f64>>,
    return_sequences: bool,
) -> (Array3<f64>, Vec<RnnTrace>) {
    let traces: Vec<RnnTrace> = (0..weights.len()).map(|d| simple_rnn_forward(&weights[d], activation, x, mask, &masks[d], init, d == 1)).collect();
    let y = layer_output(&traces.iter().map(|tr| &tr.h).collect::<Vec<_>>(), &traces.iter().map(|tr| &tr.h_final).collect::<Vec<_>>(), mask, return_sequences);
    (y, traces)
}

/// Backward of [`simple_rnn_layer_forward`] from dy (shaped like its output): per-direction gradients and dx
/// `[B,T,I]`.
pub fn simple_rnn_layer_backward(weights: &[RecurrentWeights], traces: &[RnnTrace], dy: &Array3<f64>, return_sequences: bool) -> (Vec<RnnGrads>, Array3<f64>) {
    let t = traces[0].h.dim().1;
    let douts = direction_grads(dy, t, weights[0].units(), weights.len(), traces[0].mask.as_ref(), return_sequences);
    let grads: Vec<RnnGrads> = douts.iter().enumerate().map(|(d, (dh, dh_final))| simple_rnn_backward(&weights[d], &traces[d], dh, dh_final)).collect();
    let dx = grads.iter().skip(1).fold(grads[0].dx.clone(), |acc, g| acc + &g.dx);
    (grads, dx)
}
