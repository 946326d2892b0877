//! Conv1D, Keras's on channels-last x `[B,T,C]` with PyTorch's weight layout W `[F,C,k]`:
//!   z[b,t',f] = b_f + Σ_c Σ_j W[f,c,j] · x[b, t'·s + j·d − left, c]      (terms outside 0..T read zero padding)
//!   y = act(z)                                                            y, z `[B,T',F]`
//! with s the stride, d the dilation and the window spanning d·(k−1)+1 steps. The padding (TensorFlow's rules,
//! which Keras follows):
//! - `valid`: no padding, T' = ⌈(T − span + 1) / s⌉ (0 when T < span);
//! - `same`: T' = ⌈T / s⌉, padded by (T'−1)·s + span − T steps in all, ⌊half⌋ on the left;
//! - `causal`: span − 1 steps on the left, none on the right, so T' = ⌈T / s⌉ and no output reads a later step.
//!
//! No mask passes through a convolution (Keras drops it).

use crate::config::Padding;
use ndarray::{Array1, Array3};

/// Output steps and left padding of windows of `span` steps every `stride` over `t` steps (also MaxPooling1D's).
pub fn window_geometry(t: usize, span: usize, stride: usize, padding: Padding) -> (usize, usize) {
    match padding {
        Padding::Valid if t < span => (0, 0),
        Padding::Valid => ((t - span + 1).div_ceil(stride), 0),
        Padding::Same => {
            let t_out = t.div_ceil(stride);
            let total = ((t_out.max(1) - 1) * stride + span).saturating_sub(t);
            (t_out, total / 2)
        }
        Padding::Causal => (t.div_ceil(stride), span - 1),
    }
}

/// The convolution's shape: kernel size k, stride, dilation, padding.
#[derive(Clone, Copy, Debug)]
pub struct ConvShape {
    pub k: usize,
    pub stride: usize,
    pub dilation: usize,
    pub padding: Padding,
}

impl ConvShape {
    /// (T', left padding) for `t` input steps.
    fn geometry(&self, t: usize) -> (usize, usize) {
        window_geometry(t, self.dilation * (self.k - 1) + 1, self.stride, self.padding)
    }
}

/// The input step tap j of output step t' reads, or `None` for padding.
fn source(cs: ConvShape, left: usize, t: usize, to: usize, j: usize) -> Option<usize> {
    let padded = to * cs.stride + j * cs.dilation; // position in the padded sequence
    (padded >= left && padded - left < t).then(|| padded - left)
}

/// z `[B,T',F]` = conv(x `[B,T,C]`, w `[F,C,k]`) + b `[F]` (before the activation).
pub fn conv1d_forward(x: &Array3<f64>, w: &Array3<f64>, bias: &Array1<f64>, cs: ConvShape) -> Array3<f64> {
    let (b, t, c) = x.dim();
    let f = w.dim().0;
    let (t_out, left) = cs.geometry(t);
    let mut z = Array3::zeros((b, t_out, f));
    for bi in 0..b {
        for to in 0..t_out {
            for fi in 0..f {
                let mut acc = bias[fi];
                for j in 0..cs.k {
                    if let Some(src) = source(cs, left, t, to, j) {
                        for ci in 0..c {
                            acc += w[[fi, ci, j]] * x[[bi, src, ci]];
                        }
                    }
                }
                z[[bi, to, fi]] = acc;
            }
        }
    }
    z
}

pub struct Conv1dGrads {
    pub dw: Array3<f64>, // [F,C,k]
    pub db: Array1<f64>, // [F]
    pub dx: Array3<f64>, // [B,T,C]
}

/// From dz `[B,T',F]` (the gradient of the pre-activation): dW[f,c,j] = Σ_{b,t'} dz[b,t',f]·x[b,src,c],
/// db = Σ_{b,t'} dz, dx[b,src,c] = Σ over the (t', j) reading src of Σ_f W[f,c,j]·dz[b,t',f].
pub fn conv1d_backward(x: &Array3<f64>, w: &Array3<f64>, dz: &Array3<f64>, cs: ConvShape) -> Conv1dGrads {
    let (b, t, c) = x.dim();
    let f = w.dim().0;
    let (t_out, left) = cs.geometry(t);
    let mut g = Conv1dGrads { dw: Array3::zeros(w.dim()), db: Array1::zeros(f), dx: Array3::zeros(x.dim()) };
    for bi in 0..b {
        for to in 0..t_out {
            for fi in 0..f {
                let d = dz[[bi, to, fi]];
                g.db[fi] += d;
                for j in 0..cs.k {
                    if let Some(src) = source(cs, left, t, to, j) {
                        for ci in 0..c {
                            g.dw[[fi, ci, j]] += d * x[[bi, src, ci]];
                            g.dx[[bi, src, ci]] += d * w[[fi, ci, j]];
                        }
                    }
                }
            }
        }
    }
    g
}
