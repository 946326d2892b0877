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

use super::recurrent::{apply_mask, layer_backward, layer_forward, RecurrentGrads, RecurrentMasks, RecurrentWeights, Run, Trace};
use super::sigmoid;
use ndarray::{s, Array1, Array2, Array3, Array4};

const R: usize = 0;
const Z: usize = 1;
const N: usize = 2;

/// What backward needs, per sample and time step (indexed by the step's time t, not its processing order).
pub struct GruTrace {
    /// Direction, masks and h.
    pub run: Run,
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
}

impl Trace for GruTrace {
    fn run(&self) -> &Run {
        &self.run
    }
}

/// One direction over x `[B,T,I]`, from `init` `[B,H]` or zeros.
pub fn gru_forward(
    w: &RecurrentWeights,
    x: &Array3<f64>,
    mask: Option<&Array2<bool>>,
    masks: &RecurrentMasks,
    init: Option<&Array2<f64>>,
    reverse: bool,
) -> GruTrace {
    let (b, t, i) = x.dim();
    let h = w.units();
    let mut tr = GruTrace {
        run: Run::new(reverse, mask, masks, (b, t, h)),
        xin: Array4::zeros((b, t, 3, i)),
        hin: Array4::zeros((b, t, 3, h)),
        h_prev: Array3::zeros((b, t, h)),
        gates: Array4::zeros((b, t, 3, h)),
        hn: Array3::zeros((b, t, h)),
    };
    for bi in 0..b {
        let mut hs: Array1<f64> = match init {
            Some(h0) => h0.row(bi).to_owned(),
            None => Array1::zeros(h),
        };
        for step in 0..t {
            let tt = tr.run.time(step, t);
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
            if tr.run.masked(bi, tt) {
                // h stays; the gates are never read for this step.
                tr.run.h.slice_mut(s![bi, tt, ..]).assign(&hs);
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
            tr.run.h.slice_mut(s![bi, tt, ..]).assign(&hs);
        }
        tr.run.h_final.row_mut(bi).assign(&hs);
    }
    tr
}

/// Backward of [`gru_forward`] from the gradients reaching each step's output, `dh` `[B,T,H]`, and the final
/// state, `dh_final` `[B,H]`.
pub fn gru_backward(w: &RecurrentWeights, tr: &GruTrace, dh: &Array3<f64>, dh_final: &Array2<f64>) -> RecurrentGrads {
    let (b, t, _, _) = tr.xin.dim();
    let mut gr = RecurrentGrads::zeros(w, b, t);
    for bi in 0..b {
        // The gradient reaching h from the step processed after this one.
        let mut dh_next = dh_final.row(bi).to_owned();
        for step in (0..t).rev() {
            let tt = tr.run.time(step, t);
            let dh_t = &dh_next + &dh.slice(s![bi, tt, ..]);
            if tr.run.masked(bi, tt) {
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
                let (xin, hin) = (tr.xin.slice(s![bi, tt, g, ..]), tr.hin.slice(s![bi, tt, g, ..]));
                dh_prev += &gr.add_gate(w, &tr.run.masks, g, (bi, tt), d_x, d_h, xin, hin);
            }
            dh_next = dh_prev;
        }
    }
    gr
}

/// A whole GRU layer: one or two directions over x `[B,T,I]`, output as [`layer_forward`]'s.
pub fn gru_layer_forward(
    weights: &[RecurrentWeights],
    x: &Array3<f64>,
    mask: Option<&Array2<bool>>,
    masks: &[RecurrentMasks],
    init: Option<&Array2<f64>>,
    return_sequences: bool,
) -> (Array3<f64>, Vec<GruTrace>) {
    layer_forward(weights.len(), mask, return_sequences, |d| gru_forward(&weights[d], x, mask, &masks[d], init, d == 1))
}

/// Backward of [`gru_layer_forward`] from dy (shaped like its output): per-direction gradients and dx `[B,T,I]`.
pub fn gru_layer_backward(weights: &[RecurrentWeights], traces: &[GruTrace], dy: &Array3<f64>, return_sequences: bool) -> (Vec<RecurrentGrads>, Array3<f64>) {
    layer_backward(traces, dy, return_sequences, |d, dh, dh_final| gru_backward(&weights[d], &traces[d], dh, dh_final), |g| &g.dx)
}
