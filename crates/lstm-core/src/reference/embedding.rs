//! Embedding: token ids `[B,T]` → vectors `[B,T,D]`, a row lookup in `weight` `[V,D]`.

use ndarray::{s, Array2, Array3};

/// y[b,t,:] = weight[ids[b,t], :]
pub fn embedding_forward(weight: &Array2<f64>, ids: &Array2<i32>) -> Array3<f64> {
    let (b, t) = ids.dim();
    let d = weight.ncols();
    let mut y = Array3::zeros((b, t, d)); // [B,T,D]
    for bi in 0..b {
        for tt in 0..t {
            y.slice_mut(s![bi, tt, ..]).assign(&weight.row(ids[[bi, tt]] as usize));
        }
    }
    y
}

/// dweight[v,:] = Σ over the (b,t) with ids[b,t] = v of dy[b,t,:]   (dweight `[V,D]`)
pub fn embedding_backward(vocab: usize, ids: &Array2<i32>, dy: &Array3<f64>) -> Array2<f64> {
    let (b, t) = ids.dim();
    let mut dweight = Array2::zeros((vocab, dy.dim().2));
    for bi in 0..b {
        for tt in 0..t {
            let mut row = dweight.row_mut(ids[[bi, tt]] as usize);
            row += &dy.slice(s![bi, tt, ..]);
        }
    }
    dweight
}
