//! GRU, PyTorch's `nn.GRU` (= Keras's with `reset_after=True`), gate order r, z, n:
//!   r = σ(W_ir x + b_ir + W_hr h + b_hr)
//!   z = σ(W_iz x + b_iz + W_hz h + b_hz)
//!   n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))
//!   h' = (1 − z) ⊙ n + z ⊙ h                       (W_ih `[3H,I]`, W_hh `[3H,H]`, biases `[3H]`)
//!
//! with Keras's semantics:
//! - `maskZero`: a masked step keeps h (the output repeats the previous state);
//! - dropout: masks drawn once per sequence. Without recurrent dropout one input mask `[B,I]` is shared by the three
//!   gates; with it each gate reads x and h through its own masks, `[B,3,I]` and `[B,3,H]` (Keras's per-gate cell).
//!   The masks only touch the products: h' mixes in the unmasked h;
//! - bidirectional and `returnSequences` as the other recurrent layers ([`super::recurrent`]);
//! - stateful inference starts from a given h instead of zeros.

use super::recurrent::{apply_mask, direction_grads, gate_mask, layer_output, outer, RecurrentMasks, RecurrentWeights};
use super::sigmoid;
use ndarray::{s, Array1, Array2, Array3, Array4};

const R: usize = 0;
const Z: usize = 1;
const N: usize = 2;

/// What backward needs, per sample and time step (indexed by the step's time t, not its processing order).
pub struct GruTrace {
    pub reverse: bool,
    /// `mask[b,t]` false: a padded step.
    pub mask: Option<Array2<bool>>,
    pub masks: RecurrentMasks,
    /// Each gate's input after its dropout mask `[B,T,3,I]`, and its recurrent input h_{t-1} after its mask
    /// `[B,T,3,H]`.
    pub xin: Array4<f64>,
    pub hin: Array4<f64>,
    /// h_{t-1} itself `[B,T,H]`.
    pub h_prev: Array3<f64>,
    /// The activated gates r, z, n `[B,T,3,H]`.
    pub gates: Array4<f64>,
    /// W_hn·h_{t-1} + b_hn, the part r scales `[B,T,H]`.
    pub hn: Array3<f64>,
    /// h after each step `[B,T,H]` and after the last step processed `[B,H]`.
    pub h: Array3<f64>,
    pub h_final: Array2<f64>,
}

/// One direction over x `[B,T,I]`, from `init` `[B,H]` or zeros.
pub fn gru_forward(w: &RecurrentWeights, x: &Array3<f64>, mask: Option<&Array2<bool>>, masks: &RecurrentMasks, init: Option<&Array2<f64>>, reverse: bool) -> GruTrace {
    let (b, t, i) = x.dim();
    let h = w.units();
    let mut tr = GruTrace {
        reverse,
        mask: mask.cloned(),
        masks: masks.clone(),
        xin: Array4::zeros((b, t, 3, i)),
        hin: Array4::zeros((b, t, 3, h)),
        h_prev: Array3::zeros((b, t, h)),
        gates: Array4::zeros((b, t, 3, h)),
        hn: Array3::zeros((b, t, h)),
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
            tr.h_prev.slice_mut(s![bi, tt, ..]).assign(&hs);
            // Each gate's two products, from its own masked copies of x_t and h_{t-1}.
            let mut xpart = Vec::new(); // W_i· x + b_i·
            let mut hpart = Vec::new(); // W_h· h + b_h·
            for g in [R, Z, N] {
                let xg = apply_mask(&x.slice(s![bi, tt, ..]), masks.input.as_ref(), bi, g);
                let hg = apply_mask(&hs.view(), masks.recurrent.as_ref(), bi, g);
                let (w_i, w_h, b_i, b_h) = w.gate(g);
                xpart.push(w_i.dot(&xg) + b_i);
                hpart.push(w_h.dot(&hg) + b_h);
                tr.xin.slice_mut(s![bi, tt, g, ..]).assign(&xg);
                tr.hin.slice_mut(s![bi, tt, g, ..]).assign(&hg);
            }
            if mask.is_some_and(|m| !m[[bi, tt]]) {
                // h stays; the gates are never read for this step.
                tr.h.slice_mut(s![bi, tt, ..]).assign(&hs);
                continue;
            }
            let r = (&xpart[R] + &hpart[R]).mapv(sigmoid);
            let z = (&xpart[Z] + &hpart[Z]).mapv(sigmoid);
            let n = (&xpart[N] + &(&r * &hpart[N])).mapv(f64::tanh);
            hs = &(1.0 - &z) * &n + &z * &hs;
            for (g, a) in [(R, &r), (Z, &z), (N, &n)] {
                tr.gates.slice_mut(s![bi, tt, g, ..]).assign(a);
            }
            tr.hn.slice_mut(s![bi, tt, ..]).assign(&hpart[N]);
            tr.h.slice_mut(s![bi, tt, ..]).assign(&hs);
        }
        tr.h_final.row_mut(bi).assign(&hs);
    }
    tr
}

pub struct GruGrads {
    pub dw_ih: Array2<f64>, // [3H,I]
    pub dw_hh: Array2<f64>, // [3H,H]
    /// Apart: r scales b_hn but not b_in.
    pub db_ih: Array1<f64>, // [3H]
    pub db_hh: Array1<f64>, // [3H]
    pub dx: Array3<f64>,    // [B,T,I]
}

/// Backward of [`gru_forward`] from the gradients reaching each step's output, `dh` `[B,T,H]`, and the final
/// state, `dh_final` `[B,H]`.
pub fn gru_backward(w: &RecurrentWeights, tr: &GruTrace, dh: &Array3<f64>, dh_final: &Array2<f64>) -> GruGrads {
    let (b, t, _, i) = tr.xin.dim();
    let h = w.units();
    let mut gr = GruGrads {
        dw_ih: Array2::zeros((3 * h, i)),
        dw_hh: Array2::zeros((3 * h, h)),
        db_ih: Array1::zeros(3 * h),
        db_hh: Array1::zeros(3 * h),
        dx: Array3::zeros((b, t, i)),
    };
    for bi in 0..b {
        // The gradient reaching h from the step processed after this one.
        let mut dh_next = dh_final.row(bi).to_owned();
        for step in (0..t).rev() {
            let tt = if tr.reverse { t - 1 - step } else { step };
            let dh_t = &dh_next + &dh.slice(s![bi, tt, ..]);
            if tr.mask.as_ref().is_some_and(|m| !m[[bi, tt]]) {
                // h_t = h_{t-1}: the gradient passes straight through.
                dh_next = dh_t;
                continue;
            }
            let gate = |g: usize| tr.gates.slice(s![bi, tt, g, ..]);
            let (r, z, n) = (gate(R), gate(Z), gate(N));
            let h_prev = tr.h_prev.slice(s![bi, tt, ..]);
            let hn = tr.hn.slice(s![bi, tt, ..]);
            // h' = (1 − z) ⊙ n + z ⊙ h_prev
            let dn = &dh_t * &(1.0 - &z);
            let dz = &dh_t * &(&h_prev - &n);
            // Pre-activation gradients: a_n = W_in x + b_in + r ⊙ hn, and the sigmoids of r and z.
            let da_n = &dn * &n.mapv(|v| 1.0 - v * v);
            let da_r = &da_n * &hn * &r.mapv(|v| v * (1.0 - v));
            let da_z = &dz * &z.mapv(|v| v * (1.0 - v));
            // The gradient of W_hn h + b_hn (r scales it).
            let dhn = &da_n * &r;
            // Through z ⊙ h_prev directly, then through each gate's recurrent product.
            let mut dh_prev = &dh_t * &z;
            for (g, d_x, d_h) in [(R, &da_r, &da_r), (Z, &da_z, &da_z), (N, &da_n, &dhn)] {
                let rows = s![g * h..(g + 1) * h];
                let (w_i, w_h, _, _) = w.gate(g);
                let mut dw_ih = gr.dw_ih.slice_mut(s![g * h..(g + 1) * h, ..]);
                dw_ih += &outer(&d_x.view(), &tr.xin.slice(s![bi, tt, g, ..]));
                let mut dw_hh = gr.dw_hh.slice_mut(s![g * h..(g + 1) * h, ..]);
                dw_hh += &outer(&d_h.view(), &tr.hin.slice(s![bi, tt, g, ..]));
                let mut db_ih = gr.db_ih.slice_mut(rows);
                db_ih += d_x;
                let mut db_hh = gr.db_hh.slice_mut(rows);
                db_hh += d_h;
                // dx_t += (W_i,gᵀ d_x) ⊙ input mask g;  dh_{t-1} += (W_h,gᵀ d_h) ⊙ recurrent mask g
                let mut dxg = w_i.t().dot(d_x);
                if let Some(m) = &tr.masks.input {
                    dxg *= &gate_mask(m, bi, g);
                }
                let mut dx = gr.dx.slice_mut(s![bi, tt, ..]);
                dx += &dxg;
                let mut dhg = w_h.t().dot(d_h);
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

/// A whole GRU layer: one or two directions over x `[B,T,I]`; output as [`layer_output`].
pub fn gru_layer_forward(
    weights: &[RecurrentWeights],
    x: &Array3<f64>,
    mask: Option<&Array2<bool>>,
    masks: &[RecurrentMasks],
    init: Option<&Array2<f64>>,
    return_sequences: bool,
) -> (Array3<f64>, Vec<GruTrace>) {
    let traces: Vec<GruTrace> = (0..weights.len()).map(|d| gru_forward(&weights[d], x, mask, &masks[d], init, d == 1)).collect();
    let y = layer_output(&traces.iter().map(|tr| &tr.h).collect::<Vec<_>>(), &traces.iter().map(|tr| &tr.h_final).collect::<Vec<_>>(), mask, return_sequences);
    (y, traces)
}

/// Backward of [`gru_layer_forward`] from dy (shaped like its output): per-direction gradients and dx `[B,T,I]`.
pub fn gru_layer_backward(weights: &[RecurrentWeights], traces: &[GruTrace], dy: &Array3<f64>, return_sequences: bool) -> (Vec<GruGrads>, Array3<f64>) {
    let t = traces[0].h.dim().1;
    let douts = direction_grads(dy, t, weights[0].units(), weights.len(), traces[0].mask.as_ref(), return_sequences);
    let grads: Vec<GruGrads> = douts.iter().enumerate().map(|(d, (dh, dh_final))| gru_backward(&weights[d], &traces[d], dh, dh_final)).collect();
    let dx = grads.iter().skip(1).fold(grads[0].dx.clone(), |acc, g| acc + &g.dx);
    (grads, dx)
}
