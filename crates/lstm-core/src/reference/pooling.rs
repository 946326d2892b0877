//! Global pooling over time: x `[B,T,F]` → y `[B,F]` (Keras's GlobalAveragePooling1D and GlobalMaxPooling1D).

use ndarray::{s, Array2, Array3};

/// y[b] = mean of x[b,t] over the steps t the mask keeps (`mask[b,t]` true), all steps without a mask; a sequence
/// with every step masked gives zeros.
pub fn global_average_pooling_forward(x: &Array3<f64>, mask: Option<&Array2<bool>>) -> Array2<f64> {
    let (b, t, f) = x.dim();
    let mut y = Array2::zeros((b, f));
    for bi in 0..b {
        let kept: Vec<usize> = (0..t).filter(|&tt| mask.is_none_or(|m| m[[bi, tt]])).collect();
        for &tt in &kept {
            let mut row = y.row_mut(bi);
            row += &x.slice(s![bi, tt, ..]);
        }
        if !kept.is_empty() {
            let mut row = y.row_mut(bi);
            row /= kept.len() as f64;
        }
    }
    y
}

/// dx[b,t] = dy[b] / (kept steps of b) on the kept steps, 0 on the masked ones.   dy `[B,F]`, dx `[B,T,F]`
pub fn global_average_pooling_backward(t: usize, mask: Option<&Array2<bool>>, dy: &Array2<f64>) -> Array3<f64> {
    let (b, f) = dy.dim();
    let mut dx = Array3::zeros((b, t, f));
    for bi in 0..b {
        let kept: Vec<usize> = (0..t).filter(|&tt| mask.is_none_or(|m| m[[bi, tt]])).collect();
        for &tt in &kept {
            dx.slice_mut(s![bi, tt, ..]).assign(&(&dy.row(bi) / kept.len() as f64));
        }
    }
    dx
}

/// y[b,j] = max_t x[b,t,j] over every step (Keras ignores the mask here); also returns the step of each maximum,
/// the first one on ties.   y, argmax `[B,F]`
pub fn global_max_pooling_forward(x: &Array3<f64>) -> (Array2<f64>, Array2<usize>) {
    let (b, t, f) = x.dim();
    let mut y = Array2::zeros((b, f));
    let mut argmax = Array2::zeros((b, f));
    for bi in 0..b {
        for j in 0..f {
            let mut best = 0;
            for tt in 1..t {
                if x[[bi, tt, j]] > x[[bi, best, j]] {
                    best = tt;
                }
            }
            y[[bi, j]] = x[[bi, best, j]];
            argmax[[bi, j]] = best;
        }
    }
    (y, argmax)
}

/// dx[b,t,j] = dy[b,j] at the step of the maximum, 0 elsewhere.
pub fn global_max_pooling_backward(t: usize, argmax: &Array2<usize>, dy: &Array2<f64>) -> Array3<f64> {
    let (b, f) = dy.dim();
    let mut dx = Array3::zeros((b, t, f));
    for bi in 0..b {
        for j in 0..f {
            dx[[bi, argmax[[bi, j]], j]] = dy[[bi, j]];
        }
    }
    dx
}
