//! What the recurrent references (LSTM, GRU, SimpleRNN) share: their parameters, their dropout masks, and how a
//! layer of one or two directions forms its output and splits the output's gradient between the directions.
//!
//! Keras's semantics, for every recurrent kind:
//! - the output is h at every step with `returnSequences` (`[B,T,dirs·H]`), else the final state (`[B,dirs·H]`;
//!   the reverse direction's after reading t = 0), directions concatenated on the feature axis, forward first;
//! - in a bidirectional layer that returns sequences, masked steps output zeros (so no gradient reaches them).

use ndarray::{s, Array1, Array2, Array3, ArrayView1, ArrayView2, Axis};

/// One direction's parameters, PyTorch layouts, `G` gate blocks (LSTM 4, GRU 3, SimpleRNN 1).
#[derive(Clone, Debug)]
pub struct RecurrentWeights {
    pub w_ih: Array2<f64>, // [G·H,I]
    pub w_hh: Array2<f64>, // [G·H,H]
    pub b_ih: Array1<f64>, // [G·H]
    pub b_hh: Array1<f64>, // [G·H]
}

impl RecurrentWeights {
    pub fn units(&self) -> usize {
        self.w_hh.ncols()
    }

    /// Gate g's rows of W_ih `[H,I]`, W_hh `[H,H]`, b_ih and b_hh `[H]`.
    pub fn gate(&self, g: usize) -> (ArrayView2<'_, f64>, ArrayView2<'_, f64>, ArrayView1<'_, f64>, ArrayView1<'_, f64>) {
        let h = self.units();
        let rows = g * h..(g + 1) * h;
        (self.w_ih.slice(s![rows.clone(), ..]), self.w_hh.slice(s![rows.clone(), ..]), self.b_ih.slice(s![rows.clone()]), self.b_hh.slice(s![rows]))
    }
}

/// Dropout multipliers of one direction, drawn once per sequence: `input` `[B,G,I]` and `recurrent` `[B,G,H]`,
/// G = 1 (one mask for every gate) or the kind's gate count (gate g reads copy g); `None` when off.
#[derive(Clone, Debug, Default)]
pub struct RecurrentMasks {
    pub input: Option<Array3<f64>>,
    pub recurrent: Option<Array3<f64>>,
}

/// Gate g's copy of sample b's mask (copy 0 when the gates share one).
pub fn gate_mask(m: &Array3<f64>, b: usize, g: usize) -> ArrayView1<'_, f64> {
    let copies = m.dim().1;
    m.slice(s![b, if copies == 1 { 0 } else { g }, ..])
}

/// v ⊙ gate g's copy of sample b's mask, or v without a mask.
pub fn apply_mask(v: &ArrayView1<f64>, m: Option<&Array3<f64>>, b: usize, g: usize) -> Array1<f64> {
    match m {
        Some(m) => v * &gate_mask(m, b, g),
        None => v.to_owned(),
    }
}

/// a ⊗ b `[len a, len b]`
pub fn outer(a: &ArrayView1<f64>, b: &ArrayView1<f64>) -> Array2<f64> {
    a.view().insert_axis(Axis(1)).dot(&b.view().insert_axis(Axis(0)))
}

/// The gradients of one direction's parameters (shaped like [`RecurrentWeights`]'s) and of its input x `[B,T,I]`.
pub struct RecurrentGrads {
    pub dw_ih: Array2<f64>,
    pub dw_hh: Array2<f64>,
    pub db_ih: Array1<f64>,
    pub db_hh: Array1<f64>,
    pub dx: Array3<f64>,
}

impl RecurrentGrads {
    pub fn zeros(w: &RecurrentWeights, b: usize, t: usize) -> Self {
        RecurrentGrads {
            dw_ih: Array2::zeros(w.w_ih.dim()),
            dw_hh: Array2::zeros(w.w_hh.dim()),
            db_ih: Array1::zeros(w.b_ih.len()),
            db_hh: Array1::zeros(w.b_hh.len()),
            dx: Array3::zeros((b, t, w.w_ih.ncols())),
        }
    }

    /// Gate g's share of backward at step t of sample b, from the gradients of its two pre-activation parts,
    /// `d_x` of W_ih,g·x + b_ih,g and `d_h` of W_hh,g·h + b_hh,g `[H]`, and the inputs the gate read (after its
    /// dropout masks), `xin` `[I]` and `hin` `[H]`:
    ///   dW_ih,g += d_x ⊗ xin,   dW_hh,g += d_h ⊗ hin,   db_ih,g += d_x,   db_hh,g += d_h,
    ///   dx_t += (W_ih,gᵀ d_x) ⊙ input mask g,
    /// and returns (W_hh,gᵀ d_h) ⊙ recurrent mask g, the gate's share of dL/dh_{t-1}.
    #[allow(clippy::too_many_arguments)]
    pub fn add_gate(
        &mut self,
        w: &RecurrentWeights,
        masks: &RecurrentMasks,
        g: usize,
        (b, t): (usize, usize),
        d_x: &Array1<f64>,
        d_h: &Array1<f64>,
        xin: ArrayView1<f64>,
        hin: ArrayView1<f64>,
    ) -> Array1<f64> {
        let h = w.units();
        let rows = g * h..(g + 1) * h;
        let (w_i, w_h, _, _) = w.gate(g);
        let mut dw_ih = self.dw_ih.slice_mut(s![rows.clone(), ..]);
        dw_ih += &outer(&d_x.view(), &xin);
        let mut dw_hh = self.dw_hh.slice_mut(s![rows.clone(), ..]);
        dw_hh += &outer(&d_h.view(), &hin);
        let mut db_ih = self.db_ih.slice_mut(s![rows.clone()]);
        db_ih += d_x;
        let mut db_hh = self.db_hh.slice_mut(s![rows]);
        db_hh += d_h;
        let dx_g = apply_mask(&w_i.t().dot(d_x).view(), masks.input.as_ref(), b, g);
        let mut dx = self.dx.slice_mut(s![b, t, ..]);
        dx += &dx_g;
        apply_mask(&w_h.t().dot(d_h).view(), masks.recurrent.as_ref(), b, g)
    }
}

/// What every recurrent kind's trace of one direction holds, per sample and time step (indexed by the step's time
/// t, not its processing order).
pub struct Run {
    pub reverse: bool,
    /// `mask[b,t]` false: a padded step.
    pub mask: Option<Array2<bool>>,
    pub masks: RecurrentMasks,
    /// h after each step `[B,T,H]` and after the last step processed `[B,H]`.
    pub h: Array3<f64>,
    pub h_final: Array2<f64>,
}

impl Run {
    /// A run of `b` samples of `t` steps of `h` units, states zero until forward writes them.
    pub fn new(reverse: bool, mask: Option<&Array2<bool>>, masks: &RecurrentMasks, (b, t, h): (usize, usize, usize)) -> Self {
        Run { reverse, mask: mask.cloned(), masks: masks.clone(), h: Array3::zeros((b, t, h)), h_final: Array2::zeros((b, h)) }
    }

    /// The time of the step processed `step`-th of `t`.
    pub fn time(&self, step: usize, t: usize) -> usize {
        if self.reverse {
            t - 1 - step
        } else {
            step
        }
    }

    /// Whether sample b's step t is padding.
    pub fn masked(&self, b: usize, t: usize) -> bool {
        self.mask.as_ref().is_some_and(|m| !m[[b, t]])
    }
}

/// A recurrent kind's trace of one direction.
pub trait Trace {
    fn run(&self) -> &Run;
}

/// A whole layer: `forward(d)` runs direction d (1: the reversed one) over the input; the output is `[B,T,dirs·H]`
/// with `return_sequences`, else `[B,1,dirs·H]`.
pub fn layer_forward<Tr: Trace>(dirs: usize, mask: Option<&Array2<bool>>, return_sequences: bool, forward: impl Fn(usize) -> Tr) -> (Array3<f64>, Vec<Tr>) {
    let traces: Vec<Tr> = (0..dirs).map(forward).collect();
    let runs: Vec<&Run> = traces.iter().map(Trace::run).collect();
    let (b, t, units) = runs[0].h.dim();
    let y = if return_sequences {
        let mut y = Array3::zeros((b, t, dirs * units));
        for (d, run) in runs.iter().enumerate() {
            y.slice_mut(s![.., .., d * units..(d + 1) * units]).assign(&run.h);
        }
        if let (2, Some(m)) = (dirs, mask) {
            for ((bi, tt), &keep) in m.indexed_iter() {
                if !keep {
                    y.slice_mut(s![bi, tt, ..]).fill(0.0);
                }
            }
        }
        y
    } else {
        let mut y = Array3::zeros((b, 1, dirs * units));
        for (d, run) in runs.iter().enumerate() {
            y.slice_mut(s![.., 0, d * units..(d + 1) * units]).assign(&run.h_final);
        }
        y
    };
    (y, traces)
}

/// Backward of [`layer_forward`] from dy (shaped like its output): `backward(d, dh, dh_final)` runs direction d
/// from the gradients reaching its h at every step `[B,T,H]` and its final state `[B,H]`; returns its gradients
/// and the sum of the directions' dx (`dx` picks it from a direction's gradients).
pub fn layer_backward<Tr: Trace, G>(
    traces: &[Tr],
    dy: &Array3<f64>,
    return_sequences: bool,
    backward: impl Fn(usize, &Array3<f64>, &Array2<f64>) -> G,
    dx: impl Fn(&G) -> &Array3<f64>,
) -> (Vec<G>, Array3<f64>) {
    let dirs = traces.len();
    let run = traces[0].run();
    let (b, t, units) = run.h.dim();
    let grads: Vec<G> = (0..dirs)
        .map(|d| {
            let (mut dh, mut dh_final) = (Array3::zeros((b, t, units)), Array2::zeros((b, units)));
            if return_sequences {
                dh.assign(&dy.slice(s![.., .., d * units..(d + 1) * units]));
                // Masked steps of a bidirectional layer output zeros: no gradient reaches their state.
                if let (2, Some(m)) = (dirs, &run.mask) {
                    for ((bi, tt), &keep) in m.indexed_iter() {
                        if !keep {
                            dh.slice_mut(s![bi, tt, ..]).fill(0.0);
                        }
                    }
                }
            } else {
                dh_final.assign(&dy.slice(s![.., 0, d * units..(d + 1) * units]));
            }
            backward(d, &dh, &dh_final)
        })
        .collect();
    let total = grads.iter().skip(1).fold(dx(&grads[0]).clone(), |acc, g| acc + dx(g));
    (grads, total)
}
