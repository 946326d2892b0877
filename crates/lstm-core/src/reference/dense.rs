//! Dense: x `[N,in]` → z = x·Wᵀ + b `[N,U]` → y = act(z), with W `[U,in]` as PyTorch. A sequence `[B,T,in]` is
//! the N = B·T rows of its steps.

use crate::config::Activation;
use ndarray::{Array1, Array2, Axis};

/// z `[N,U]` = x `[N,in]` · Wᵀ `[in,U]` + b `[U]`
pub fn dense_forward(x: &Array2<f64>, w: &Array2<f64>, b: &Array1<f64>) -> Array2<f64> {
    x.dot(&w.t()) + b
}

/// y = act(z), row by row for softmax.   z, y `[N,U]`
pub fn activation_forward(act: Activation, z: &Array2<f64>) -> Array2<f64> {
    match act {
        Activation::Linear => z.clone(),
        Activation::Relu => z.mapv(|v| v.max(0.0)),
        Activation::Sigmoid => z.mapv(super::sigmoid),
        Activation::Tanh => z.mapv(f64::tanh),
        Activation::Softmax => {
            let mut y = z.clone();
            for mut row in y.rows_mut() {
                let max = row.fold(f64::NEG_INFINITY, |m, &v| m.max(v));
                row.mapv_inplace(|v| (v - max).exp());
                let sum = row.sum();
                row /= sum;
            }
            y
        }
    }
}

/// dz from dy and the activation's output y.   y, dy, dz `[N,U]`
/// relu: dy·[y > 0]; sigmoid: dy·y(1-y); tanh: dy·(1-y²); softmax: y ⊙ (dy - Σ_j dy_j y_j) per row.
pub fn activation_backward(act: Activation, y: &Array2<f64>, dy: &Array2<f64>) -> Array2<f64> {
    match act {
        Activation::Linear => dy.clone(),
        Activation::Relu => ndarray::Zip::from(dy).and(y).map_collect(|&d, &y| if y > 0.0 { d } else { 0.0 }),
        Activation::Sigmoid => ndarray::Zip::from(dy).and(y).map_collect(|&d, &y| d * y * (1.0 - y)),
        Activation::Tanh => ndarray::Zip::from(dy).and(y).map_collect(|&d, &y| d * (1.0 - y * y)),
        Activation::Softmax => {
            let mut dz = Array2::zeros(y.dim());
            for ((mut out, d), y) in dz.rows_mut().into_iter().zip(dy.rows()).zip(y.rows()) {
                let dot = d.dot(&y);
                out.assign(&(&y * &(&d - dot)));
            }
            dz
        }
    }
}

pub struct DenseGrads {
    pub dw: Array2<f64>, // [U,in]
    pub db: Array1<f64>, // [U]
    pub dx: Array2<f64>, // [N,in]
}

/// dW = dzᵀ·x, db = Σ_n dz, dx = dz·W.
pub fn dense_backward(x: &Array2<f64>, w: &Array2<f64>, dz: &Array2<f64>) -> DenseGrads {
    DenseGrads { dw: dz.t().dot(x), db: dz.sum_axis(Axis(0)), dx: dz.dot(w) }
}
