//! Embedding: token ids `[N]` (N = B·T) → vectors `[N,D]`.

use super::{checked_mul, Backward, Built, FeatureShape, Forward, InferenceRole, Layer, MaskOut, ParamSpec};
use crate::config::EmbeddingConfig;
use crate::error::Result;
use crate::model::ActShape;

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

/// The mask an embedding passes on: with `mask_zero`, 0 where the token id is 0 (padding), else none.
pub fn padding_mask(mask_zero: bool, tokens: &[i32], index: usize) -> Result<MaskOut> {
    if !mask_zero {
        return Ok(MaskOut::Drop);
    }
    let mut m = Vec::new();
    super::room(&mut m, &[tokens.len()], index, "embedding", "padding mask")?;
    m.extend(tokens.iter().map(|&id| (id != 0) as u8));
    Ok(MaskOut::New(m))
}

/// The embedding layer: its one tensor `weight` `[inputDim, outputDim]`; it starts the mask with `maskZero`.
pub struct Embedding {
    index: usize,
    config: EmbeddingConfig,
}

pub fn build(c: &EmbeddingConfig, index: usize, input: FeatureShape) -> Result<Built> {
    let _ = input;
    checked_mul(index, c.input_dim, c.output_dim)?;
    Ok(Built {
        layer: Box::new(Embedding { index, config: c.clone() }),
        params: vec![ParamSpec { name: "weight".into(), shape: vec![c.input_dim, c.output_dim], init: c.embeddings_initializer.clone() }],
        output: FeatureShape { f: c.output_dim, seq: true },
    })
}

impl Layer for Embedding {
    fn forward(&mut self, fw: Forward<'_>, out: &mut Vec<f32>) -> Result<(ActShape, MaskOut)> {
        let d = self.config.output_dim;
        let shape = ActShape { f: d, ..fw.shape };
        out.resize(shape.len(), 0.0);
        embedding_forward(d, fw.params.get(0), fw.tokens, out);
        Ok((shape, padding_mask(self.config.mask_zero, fw.tokens, self.index)?))
    }

    fn inference_role(&self) -> InferenceRole {
        InferenceRole::Embedding { dim: self.config.output_dim, mask_zero: self.config.mask_zero }
    }

    fn reserve(&mut self, _shape: ActShape, _training: bool) -> Result<()> {
        // Its output is the model's; the padding mask is allocated, fallibly, by `forward`.
        Ok(())
    }

    fn release(&mut self) {}

    fn backward(&mut self, mut bw: Backward<'_>) {
        let dweight = bw.grads[0].as_deref_mut().expect("an embedding's gradient is stored");
        embedding_backward(self.config.output_dim, bw.tokens, bw.dy, dweight);
    }
}
