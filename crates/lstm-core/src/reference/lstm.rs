//! LSTM, PyTorch's gate order i, f, g, o:
//!   z_t = W_ih·x_t + b_ih + W_hh·h_{t-1} + b_hh          (z `[4H]`, W_ih `[4H,I]`, W_hh `[4H,H]`)
//!   i = σ(z_i), f = σ(z_f), g = tanh(z_g), o = σ(z_o)
//!   c_t = f ⊙ c_{t-1} + i ⊙ g,   h_t = o ⊙ tanh(c_t)
//!
//! with Keras's semantics:
//! - `maskZero`: a masked step keeps h and c (the output repeats the previous state);
//! - dropout: masks drawn once per sequence. Without recurrent dropout one input mask `[B,I]` is shared by the four
//!   gates; with it each gate reads x_t and h_{t-1} through its own masks, `[B,4,I]` and `[B,4,H]`;
//! - bidirectional: a second LSTM reads the sequence from the end; the outputs are concatenated on the feature
//!   axis (forward first). With `returnSequences` masked steps then output zeros.
//! - stateful inference starts from a given (h, c) instead of zeros.

use super::recurrent::{apply_mask, layer_backward, layer_forward, RecurrentGrads, RecurrentMasks, RecurrentWeights, Run, Trace};
use super::sigmoid;
use ndarray::{s, Array1, Array2, Array3};

/// What backward needs, per sample and time step (indexed by the step's time t, not its processing order).
pub struct LstmTrace {
    /// Direction, masks and h.
    pub run: Run,
    /// Each gate's input after its dropout mask `[B,T,4,I]`, and recurrent input h_{t-1} after its mask `[B,T,4,H]`.
    pub xin: ndarray::Array4<f64>,
    pub hin: ndarray::Array4<f64>,
    /// Activated gates i, f, g, o `[B,T,4H]`.
    pub gates: Array3<f64>,
    /// c_{t-1} and c_t `[B,T,H]`.
    pub c_prev: Array3<f64>,
    pub c: Array3<f64>,
    /// c after the last step processed `[B,H]` (with h, the final state).
    pub c_final: Array2<f64>,
}

impl Trace for LstmTrace {
    fn run(&self) -> &Run {
        &self.run
    }
}

/// One direction over x `[B,T,I]`; returns h `[B,T,H]` (in the trace) per time step.
pub fn lstm_forward(
    w: &RecurrentWeights,
    x: &Array3<f64>,
    mask: Option<&Array2<bool>>,
    masks: &RecurrentMasks,
    init: Option<(&Array2<f64>, &Array2<f64>)>,
    reverse: bool,
) -> LstmTrace {
    let (b, t, i) = x.dim();
    let h = w.units();
    let mut tr = LstmTrace {
        run: Run::new(reverse, mask, masks, (b, t, h)),
        xin: ndarray::Array4::zeros((b, t, 4, i)),
        hin: ndarray::Array4::zeros((b, t, 4, h)),
        gates: Array3::zeros((b, t, 4 * h)),
        c_prev: Array3::zeros((b, t, h)),
        c: Array3::zeros((b, t, h)),
        c_final: Array2::zeros((b, h)),
    };
    for bi in 0..b {
        let (mut hs, mut cs): (Array1<f64>, Array1<f64>) = match init {
            Some((h0, c0)) => (h0.row(bi).to_owned(), c0.row(bi).to_owned()),
            None => (Array1::zeros(h), Array1::zeros(h)),
        };
        for step in 0..t {
            let tt = tr.run.time(step, t);
            let xt = x.slice(s![bi, tt, ..]);
            let mut z = Array1::<f64>::zeros(4 * h); // [4H]
            for g in 0..4 {
                let xg = apply_mask(&xt, masks.input.as_ref(), bi, g);
                let hg = apply_mask(&hs.view(), masks.recurrent.as_ref(), bi, g);
                let rows = s![g * h..(g + 1) * h];
                let zg = w.w_ih.slice(s![g * h..(g + 1) * h, ..]).dot(&xg)
                    + w.w_hh.slice(s![g * h..(g + 1) * h, ..]).dot(&hg)
                    + w.b_ih.slice(rows)
                    + w.b_hh.slice(rows);
                z.slice_mut(rows).assign(&zg);
                tr.xin.slice_mut(s![bi, tt, g, ..]).assign(&xg);
                tr.hin.slice_mut(s![bi, tt, g, ..]).assign(&hg);
            }
            tr.c_prev.slice_mut(s![bi, tt, ..]).assign(&cs);
            if !tr.run.masked(bi, tt) {
                let gi = z.slice(s![0..h]).mapv(sigmoid);
                let gf = z.slice(s![h..2 * h]).mapv(sigmoid);
                let gg = z.slice(s![2 * h..3 * h]).mapv(f64::tanh);
                let go = z.slice(s![3 * h..4 * h]).mapv(sigmoid);
                cs = &gf * &cs + &gi * &gg;
                hs = &go * &cs.mapv(f64::tanh);
                for (g, a) in [gi, gf, gg, go].iter().enumerate() {
                    tr.gates.slice_mut(s![bi, tt, g * h..(g + 1) * h]).assign(a);
                }
            }
            tr.c.slice_mut(s![bi, tt, ..]).assign(&cs);
            tr.run.h.slice_mut(s![bi, tt, ..]).assign(&hs);
        }
        tr.run.h_final.row_mut(bi).assign(&hs);
        tr.c_final.row_mut(bi).assign(&cs);
    }
    tr
}

/// Backward of [`lstm_forward`] from the gradients reaching each step's output, `dh` `[B,T,H]`, and the final
/// state, `dh_final` `[B,H]` (zero initial state assumed, as in training).
pub fn lstm_backward(w: &RecurrentWeights, tr: &LstmTrace, dh: &Array3<f64>, dh_final: &Array2<f64>) -> RecurrentGrads {
    let (b, t, _, _) = tr.xin.dim();
    let h = w.units();
    let mut gr = RecurrentGrads::zeros(w, b, t);
    for bi in 0..b {
        // Gradients reaching h and c from the step processed after this one.
        let mut dh_next = dh_final.row(bi).to_owned();
        let mut dc_next = Array1::<f64>::zeros(h);
        for step in (0..t).rev() {
            let tt = tr.run.time(step, t);
            let dh_t = &dh_next + &dh.slice(s![bi, tt, ..]);
            if tr.run.masked(bi, tt) {
                // h_t = h_{t-1}, c_t = c_{t-1}: both gradients pass straight through.
                dh_next = dh_t;
                continue;
            }
            let gates = tr.gates.slice(s![bi, tt, ..]);
            let (gi, gf, gg, go) = (gates.slice(s![0..h]), gates.slice(s![h..2 * h]), gates.slice(s![2 * h..3 * h]), gates.slice(s![3 * h..4 * h]));
            let c = tr.c.slice(s![bi, tt, ..]);
            let c_prev = tr.c_prev.slice(s![bi, tt, ..]);
            let tc = c.mapv(f64::tanh);
            // dL/dc_t: from c_{t+1} and through h_t = o ⊙ tanh(c_t).
            let dc = &dc_next + &(&dh_t * &go * &tc.mapv(|v| 1.0 - v * v));
            // Pre-activation gradients dz = [dz_i, dz_f, dz_g, dz_o] `[4H]`.
            let dz_i = &dc * &gg * &gi.mapv(|v| v * (1.0 - v));
            let dz_f = &dc * &c_prev * &gf.mapv(|v| v * (1.0 - v));
            let dz_g = &dc * &gi * &gg.mapv(|v| 1.0 - v * v);
            let dz_o = &dh_t * &tc * &go.mapv(|v| v * (1.0 - v));
            dc_next = &dc * &gf;
            let mut dh_prev = Array1::<f64>::zeros(h);
            // Both parts of a gate's pre-activation get dz_g (z = W_ih·x + b_ih + W_hh·h + b_hh).
            for (g, dz) in [dz_i, dz_f, dz_g, dz_o].iter().enumerate() {
                let (xin, hin) = (tr.xin.slice(s![bi, tt, g, ..]), tr.hin.slice(s![bi, tt, g, ..]));
                dh_prev += &gr.add_gate(w, &tr.run.masks, g, (bi, tt), dz, dz, xin, hin);
            }
            dh_next = dh_prev;
        }
    }
    gr
}

/// A whole LSTM layer: one or two directions over x `[B,T,I]`, output as [`layer_forward`]'s.
pub fn lstm_layer_forward(
    weights: &[RecurrentWeights],
    x: &Array3<f64>,
    mask: Option<&Array2<bool>>,
    masks: &[RecurrentMasks],
    init: Option<(&Array2<f64>, &Array2<f64>)>,
    return_sequences: bool,
) -> (Array3<f64>, Vec<LstmTrace>) {
    layer_forward(weights.len(), mask, return_sequences, |d| lstm_forward(&weights[d], x, mask, &masks[d], init, d == 1))
}

/// Backward of [`lstm_layer_forward`] from dy (shaped like its output): per-direction gradients and dx `[B,T,I]`.
pub fn lstm_layer_backward(weights: &[RecurrentWeights], traces: &[LstmTrace], dy: &Array3<f64>, return_sequences: bool) -> (Vec<RecurrentGrads>, Array3<f64>) {
    layer_backward(traces, dy, return_sequences, |d, dh, dh_final| lstm_backward(&weights[d], &traces[d], dh, dh_final), |g| &g.dx)
}
