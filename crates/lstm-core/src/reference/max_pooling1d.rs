//! MaxPooling1D, Keras's: x `[B,T,F]` → y `[B,T',F]`, y[b,t',j] = max of x[b,s,j] over the window's steps
//! s ∈ [t'·stride − left, t'·stride − left + pool) that lie inside 0..T. The geometry is Conv1D's
//! ([`super::conv1d::window_geometry`]); with `same` the padded steps are −∞ (never the maximum), so a window at an
//! edge is the maximum of its steps inside the sequence. No mask passes through it.

use super::conv1d::window_geometry;
use crate::config::Padding;
use ndarray::Array3;

/// y `[B,T',F]` and the step of each maximum (the first on ties) `[B,T',F]`.
pub fn max_pooling1d_forward(x: &Array3<f64>, pool: usize, stride: usize, padding: Padding) -> (Array3<f64>, Array3<usize>) {
    let (b, t, f) = x.dim();
    let (t_out, left) = window_geometry(t, pool, stride, padding);
    let mut y = Array3::zeros((b, t_out, f));
    let mut argmax = Array3::zeros((b, t_out, f));
    for bi in 0..b {
        for to in 0..t_out {
            let steps: Vec<usize> = (to * stride..to * stride + pool).filter(|&p| p >= left && p - left < t).map(|p| p - left).collect();
            for j in 0..f {
                let mut best = steps[0];
                for &s in &steps[1..] {
                    if x[[bi, s, j]] > x[[bi, best, j]] {
                        best = s;
                    }
                }
                y[[bi, to, j]] = x[[bi, best, j]];
                argmax[[bi, to, j]] = best;
            }
        }
    }
    (y, argmax)
}

/// dx[b,s,j] = Σ dy[b,t',j] over the windows t' whose maximum was step s.   dy `[B,T',F]`, dx `[B,T,F]`
pub fn max_pooling1d_backward(t: usize, argmax: &Array3<usize>, dy: &Array3<f64>) -> Array3<f64> {
    let (b, t_out, f) = dy.dim();
    let mut dx = Array3::zeros((b, t, f));
    for bi in 0..b {
        for to in 0..t_out {
            for j in 0..f {
                dx[[bi, argmax[[bi, to, j]], j]] += dy[[bi, to, j]];
            }
        }
    }
    dx
}
