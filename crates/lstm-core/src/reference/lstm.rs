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

use super::recurrent::{direction_grads, gate_mask, layer_output, outer, RecurrentMasks, RecurrentWeights};
use super::sigmoid;
use ndarray::{s, Array1, Array2, Array3};

/// What backward needs, per sample and time step (indexed by the step's time t, not its processing order).
pub struct LstmTrace {
    pub reverse: bool,
    /// `mask[b,t]` false: a padded step.
    pub mask: Option<Array2<bool>>,
    pub masks: RecurrentMasks,
    /// Each gate's input after its dropout mask `[B,T,4,I]`, and recurrent input h_{t-1} after its mask `[B,T,4,H]`.
    pub xin: ndarray::Array4<f64>,
    pub hin: ndarray::Array4<f64>,
    /// Activated gates i, f, g, o `[B,T,4H]`.
    pub gates: Array3<f64>,
    /// c_{t-1} and c_t `[B,T,H]`.
    pub c_prev: Array3<f64>,
    pub c: Array3<f64>,
    /// h after each step `[B,T,H]` and the final state (h, c) after the last step processed `[B,H]`.
    pub h: Array3<f64>,
    pub h_final: Array2<f64>,
    pub c_final: Array2<f64>,
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
        reverse,
        mask: mask.cloned(),
        masks: masks.clone(),
        xin: ndarray::Array4::zeros((b, t, 4, i)),
        hin: ndarray::Array4::zeros((b, t, 4, h)),
        gates: Array3::zeros((b, t, 4 * h)),
        c_prev: Array3::zeros((b, t, h)),
        c: Array3::zeros((b, t, h)),
        h: Array3::zeros((b, t, h)),
        h_final: Array2::zeros((b, h)),
        c_final: Array2::zeros((b, h)),
    };
    for bi in 0..b {
        let (mut hs, mut cs): (Array1<f64>, Array1<f64>) = match init {
            Some((h0, c0)) => (h0.row(bi).to_owned(), c0.row(bi).to_owned()),
            None => (Array1::zeros(h), Array1::zeros(h)),
        };
        for step in 0..t {
            let tt = if reverse { t - 1 - step } else { step };
            let xt = x.slice(s![bi, tt, ..]);
            let mut z = Array1::<f64>::zeros(4 * h); // [4H]
            for g in 0..4 {
                let xg = match &masks.input {
                    Some(m) => &xt * &gate_mask(m, bi, g),
                    None => xt.to_owned(),
                };
                let hg = match &masks.recurrent {
                    Some(m) => &hs * &gate_mask(m, bi, g),
                    None => hs.clone(),
                };
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
            let masked = mask.is_some_and(|m| !m[[bi, tt]]);
            if !masked {
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
            tr.h.slice_mut(s![bi, tt, ..]).assign(&hs);
        }
        tr.h_final.row_mut(bi).assign(&hs);
        tr.c_final.row_mut(bi).assign(&cs);
    }
    tr
}

pub struct LstmGrads {
    pub dw_ih: Array2<f64>, // [4H,I]
    pub dw_hh: Array2<f64>, // [4H,H]
    /// db_ih = db_hh = Σ dz `[4H]`.
    pub db: Array1<f64>,
    pub dx: Array3<f64>, // [B,T,I]
}

/// Backward of [`lstm_forward`] from the gradients reaching each step's output, `dh` `[B,T,H]`, and the final
/// state, `dh_final` `[B,H]` (zero initial state assumed, as in training).
pub fn lstm_backward(w: &RecurrentWeights, tr: &LstmTrace, dh: &Array3<f64>, dh_final: &Array2<f64>) -> LstmGrads {
    let (b, t, _, i) = tr.xin.dim();
    let h = w.units();
    let mut gr = LstmGrads { dw_ih: Array2::zeros((4 * h, i)), dw_hh: Array2::zeros((4 * h, h)), db: Array1::zeros(4 * h), dx: Array3::zeros((b, t, i)) };
    for bi in 0..b {
        // Gradients reaching h and c from the step processed after this one.
        let mut dh_next = dh_final.row(bi).to_owned();
        let mut dc_next = Array1::<f64>::zeros(h);
        for step in (0..t).rev() {
            let tt = if tr.reverse { t - 1 - step } else { step };
            let dh_t = &dh_next + &dh.slice(s![bi, tt, ..]);
            if tr.mask.as_ref().is_some_and(|m| !m[[bi, tt]]) {
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
            for (g, dz) in [dz_i, dz_f, dz_g, dz_o].iter().enumerate() {
                let rows = s![g * h..(g + 1) * h];
                let xin = tr.xin.slice(s![bi, tt, g, ..]);
                let hin = tr.hin.slice(s![bi, tt, g, ..]);
                // dW_g += dz_g ⊗ (gate g's masked input), db_g += dz_g
                let mut dw_ih = gr.dw_ih.slice_mut(s![g * h..(g + 1) * h, ..]);
                dw_ih += &outer(&dz.view(), &xin);
                let mut dw_hh = gr.dw_hh.slice_mut(s![g * h..(g + 1) * h, ..]);
                dw_hh += &outer(&dz.view(), &hin);
                let mut db = gr.db.slice_mut(rows);
                db += dz;
                // dx_t += (W_ih,gᵀ dz_g) ⊙ input mask g;  dh_{t-1} += (W_hh,gᵀ dz_g) ⊙ recurrent mask g
                let mut dxg = w.w_ih.slice(s![g * h..(g + 1) * h, ..]).t().dot(dz);
                if let Some(m) = &tr.masks.input {
                    dxg *= &gate_mask(m, bi, g);
                }
                let mut dx = gr.dx.slice_mut(s![bi, tt, ..]);
                dx += &dxg;
                let mut dhg = w.w_hh.slice(s![g * h..(g + 1) * h, ..]).t().dot(dz);
                if let Some(m) = &tr.masks.recurrent {
                    dhg *= &gate_mask(m, bi, g);
                }
                dh_prev += &dhg;
            }
            dh_next = dh_prev;
        }
    }
    gr
}

/// A whole LSTM layer: one or two directions over x `[B,T,I]`. Output `[B,T,dirs·H]` with `return_sequences`
/// (masked steps zero in a bidirectional layer), else the final states `[B,dirs·H]` (the reverse direction's after
/// reading t = 0), as a 3-D array `[B,1,dirs·H]`.
pub fn lstm_layer_forward(
    weights: &[RecurrentWeights],
    x: &Array3<f64>,
    mask: Option<&Array2<bool>>,
    masks: &[RecurrentMasks],
    init: Option<(&Array2<f64>, &Array2<f64>)>,
    return_sequences: bool,
) -> (Array3<f64>, Vec<LstmTrace>) {
    let traces: Vec<LstmTrace> = (0..weights.len()).map(|d| lstm_forward(&weights[d], x, mask, &masks[d], init, d == 1)).collect();
    let y = layer_output(&traces.iter().map(|tr| &tr.h).collect::<Vec<_>>(), &traces.iter().map(|tr| &tr.h_final).collect::<Vec<_>>(), mask, return_sequences);
    (y, traces)
}

/// Backward of [`lstm_layer_forward`] from dy (shaped like its output): per-direction gradients and dx `[B,T,I]`.
pub fn lstm_layer_backward(weights: &[RecurrentWeights], traces: &[LstmTrace], dy: &Array3<f64>, return_sequences: bool) -> (Vec<LstmGrads>, Array3<f64>) {
    let t = traces[0].h.dim().1;
    let douts = direction_grads(dy, t, weights[0].units(), weights.len(), traces[0].mask.as_ref(), return_sequences);
    let grads: Vec<LstmGrads> = douts.iter().enumerate().map(|(d, (dh, dh_final))| lstm_backward(&weights[d], &traces[d], dh, dh_final)).collect();
    let dx = grads.iter().skip(1).fold(grads[0].dx.clone(), |acc, g| acc + &g.dx);
    (grads, dx)
}
