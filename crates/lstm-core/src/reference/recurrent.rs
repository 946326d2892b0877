//! What the recurrent references (LSTM, GRU, SimpleRNN) share: their parameters, their dropout masks, and how a
//! layer of one or two directions forms its output and splits the output's gradient between the directions.
//!
//! Keras's semantics, for every recurrent kind:
//! - the output is h at every step with `returnSequences` (`[B,T,dirs·H]`), else the final state (`[B,dirs·H]`;
//!   the reverse direction's after reading t = 0), directions concatenated on the feature axis, forward first;
//! - in a bidirectional layer that returns sequences, masked steps output zeros (so no gradient reaches them).

use ndarray::{s, Array1, Array2, Array3, ArrayView1, Axis};

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
    pub fn gate(&self, g: usize) -> (ndarray::ArrayView2<'_, f64>, ndarray::ArrayView2<'_, f64>, ArrayView1<'_, f64>, ArrayView1<'_, f64>) {
        let h = self.units();
        let rows = g * h..(g + 1) * h;
        (
            self.w_ih.slice(s![rows.clone(), ..]),
            self.w_hh.slice(s![rows.clone(), ..]),
            self.b_ih.slice(s![rows.clone()]),
            self.b_hh.slice(s![rows]),
        )
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

/// A layer's output from each direction's h `[B,T,H]` and final state `[B,H]`: `[B,T,dirs·H]` with
/// `return_sequences`, else `[B,1,dirs·H]`.
pub fn layer_output(h: &[&Array3<f64>], h_final: &[&Array2<f64>], mask: Option<&Array2<bool>>, return_sequences: bool) -> Array3<f64> {
    let (b, t, units) = h[0].dim();
    let dirs = h.len();
    if return_sequences {
        let mut y = Array3::zeros((b, t, dirs * units));
        for (d, hd) in h.iter().enumerate() {
            y.slice_mut(s![.., .., d * units..(d + 1) * units]).assign(*hd);
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
        for (d, hf) in h_final.iter().enumerate() {
            y.slice_mut(s![.., 0, d * units..(d + 1) * units]).assign(*hf);
        }
        y
    }
}

/// The gradients reaching each direction's h at every step `[B,T,H]` and its final state `[B,H]`, from dy shaped
/// like [`layer_output`]'s result.
pub fn direction_grads(dy: &Array3<f64>, t: usize, units: usize, dirs: usize, mask: Option<&Array2<bool>>, return_sequences: bool) -> Vec<(Array3<f64>, Array2<f64>)> {
    let b = dy.dim().0;
    (0..dirs)
        .map(|d| {
            let (mut dh, mut dh_final) = (Array3::zeros((b, t, units)), Array2::zeros((b, units)));
            if return_sequences {
                dh.assign(&dy.slice(s![.., .., d * units..(d + 1) * units]));
                if let (2, Some(m)) = (dirs, mask) {
                    for ((bi, tt), &keep) in m.indexed_iter() {
                        if !keep {
                            dh.slice_mut(s![bi, tt, ..]).fill(0.0);
                        }
                    }
                }
            } else {
                dh_final.assign(&dy.slice(s![.., 0, d * units..(d + 1) * units]));
            }
            (dh, dh_final)
        })
        .collect()
}
