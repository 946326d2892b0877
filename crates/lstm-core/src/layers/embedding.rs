//! Embedding: token ids `[N]` (N = B·T) → vectors `[N,D]`.

/// y[n] = weight[ids[n]]. `ids` were range-checked by the model.
pub fn embedding_forward(d: usize, weight: &[f32], ids: &[i32], y: &mut [f32]) {
    for (n, &id) in ids.iter().enumerate() {
        let id = id as usize;
        y[n * d..(n + 1) * d].copy_from_slice(&weight[id * d..(id + 1) * d]);
    }
}

/// dweight[ids[n]] += dy[n], in order of n so the sum order is fixed.
pub fn embedding_backward(d: usize, ids: &[i32], dy: &[f32], dweight: &mut [f32]) {
    for (n, &id) in ids.iter().enumerate() {
        let id = id as usize;
        for (w, g) in dweight[id * d..(id + 1) * d].iter_mut().zip(&dy[n * d..(n + 1) * d]) {
            *w += *g;
        }
    }
}
