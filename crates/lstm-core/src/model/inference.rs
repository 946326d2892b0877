//! The forward pass over borrowed parts, so that it can run on the model's own buffers (training, evaluation) or
//! on an [`Inference`]: the buffers of one prediction, which lets any number of predictions read one model's weights
//! at once (`Model::predict_with` takes `&self`).

use super::{batch_rows, plan, ActShape, Model, Slot};
use crate::config::LayerConfig;
use crate::data::{Batch, DataRef};
use crate::error::{LstmError, Result};
use crate::layers::{self, Forward, InferenceRole, MaskOut, Params};
use crate::mem;

/// What a forward pass writes: each layer's caches, the activations, their shapes and masks, read from the batch.
pub(super) struct Pass<'a> {
    pub slots: &'a mut [Slot],
    pub acts: &'a mut [Vec<f32>],
    pub shapes: &'a mut [ActShape],
    pub masks: &'a mut [Option<Vec<u8>>],
    pub batch: &'a Batch,
}

impl Pass<'_> {
    /// Runs every layer on the batch with the weights `params`; `training` turns dropout on (keyed by seed and step).
    pub fn run(self, params: &[f32], seed: u64, step: u64, training: bool) -> Result<()> {
        let Pass { slots, acts, shapes, masks, batch } = self;
        let mut shape = batch.shape;
        let mut mask: Option<Vec<u8>> = None;
        // At inference, a recurrent layer may read an embedding's rows by token itself (see `embedded_reader`):
        // the layers before it then give only their shapes and masks.
        let reader = if training { None } else { embedded_reader(slots, shape) };
        let mut embedded = None;
        for (l, slot) in slots.iter_mut().enumerate() {
            let (before, after) = acts.split_at_mut(l);
            let x: &[f32] = if reader.is_some_and(|k| l == k) {
                &[]
            } else if l == 0 {
                &batch.floats
            } else {
                &before[l - 1]
            };
            masks[l] = mask.take();
            let layer_params = Params { data: &params[slot.span.clone()], ranges: &slot.ranges };
            let (out_shape, mask_out) = match (reader, slot.layer.inference_role()) {
                (Some(k), InferenceRole::Embedding { dim, mask_zero }) if l < k => {
                    embedded = Some(layer_params.get(0));
                    (ActShape { f: dim, ..shape }, layers::embedding::padding_mask(mask_zero, &batch.tokens, l)?)
                }
                (Some(k), InferenceRole::Identity) if l < k => (shape, MaskOut::Keep),
                _ => {
                    let fw = Forward {
                        index: l,
                        x,
                        tokens: &batch.tokens,
                        embedded: embedded.filter(|_| reader == Some(l)),
                        shape,
                        mask: masks[l].as_deref(),
                        params: layer_params,
                        training,
                        seed,
                        step,
                    };
                    slot.layer.forward(fw, &mut after[0])?
                }
            };
            mask = match mask_out {
                MaskOut::Keep => {
                    masks[l].as_deref().map(|m| mem::copied(m, || format!("the mask {:?} after layer {l}", [shape.b, shape.t.unwrap_or(1)]))).transpose()?
                }
                MaskOut::Drop => None,
                MaskOut::New(m) => Some(m),
            };
            shapes[l] = out_shape;
            shape = out_shape;
        }
        Ok(())
    }
}

/// The layer that reads the embedding's rows by token at inference over a batch of `shape`: an embedding first,
/// then only layers that are identities at inference (dropout), then a layer that [reads embedded
/// rows](crate::layers::Layer::reads_embedded) (an LSTM's final-state path, which can gather its input projection
/// from a table of the vocabulary's). Neither the embedding's output nor the copies between are made.
fn embedded_reader(slots: &[Slot], shape: ActShape) -> Option<usize> {
    let InferenceRole::Embedding { dim, .. } = slots.first()?.layer.inference_role() else { return None };
    let k = 1 + slots[1..].iter().position(|s| s.layer.inference_role() != InferenceRole::Identity)?;
    slots[k].layer.reads_embedded(ActShape { f: dim, ..shape }).then_some(k)
}

/// Makes room in each layer and its output (and its output gradient, when `dacts` is given: training) for a pass
/// over an input of `shape`; see `Layer::reserve`.
pub(super) fn reserve_outputs(
    slots: &mut [Slot],
    acts: &mut [Vec<f32>],
    mut dacts: Option<&mut [Vec<f32>]>,
    configs: &[LayerConfig],
    mut shape: ActShape,
) -> Result<()> {
    let training = dacts.is_some();
    for (l, slot) in slots.iter_mut().enumerate() {
        slot.layer.reserve(shape, training)?;
        shape = layers::output_shape(&configs[l], shape);
        let what = || format!("the output {:?} of layer {l} ({})", shape.dims(), configs[l].kind());
        let len = mem::count::<f32>(&shape.dims(), what)?;
        mem::room(&mut acts[l], len, what)?;
        if let Some(d) = dacts.as_deref_mut() {
            mem::room(&mut d[l], len, || format!("the output gradient {:?} of layer {l} ({})", shape.dims(), configs[l].kind()))?;
        }
    }
    Ok(())
}

/// Frees the buffers of a pass that grow with the batch (after an `OutOfMemory`).
pub(super) fn release_outputs(slots: &mut [Slot], acts: &mut [Vec<f32>], masks: &mut [Option<Vec<u8>>], batch: &mut Batch) {
    for slot in slots {
        slot.layer.release();
    }
    for v in acts {
        *v = Vec::new();
    }
    masks.iter_mut().for_each(|m| *m = None);
    batch.release();
}

/// The buffers of one prediction on a model: its own copy of the layers (their caches and scratch, not the weights),
/// the activations and the gathered batch. Made by [`Model::inference`]; kept and reused between predictions.
pub struct Inference {
    slots: Vec<Slot>,
    acts: Vec<Vec<f32>>,
    shapes: Vec<ActShape>,
    masks: Vec<Option<Vec<u8>>>,
    batch: Batch,
}

/// Appends the last layer's output for one batch to the predictions of `n` samples, sizing them at the first batch.
fn append_output(out: &mut Vec<f32>, shape: &mut Vec<usize>, n: usize, last: &[f32], last_shape: ActShape) -> Result<()> {
    if out.is_empty() {
        *shape = last_shape.dims();
        shape[0] = n;
        let what = || format!("the predictions {shape:?}");
        mem::room(out, mem::count::<f32>(shape, what)?, what)?;
    }
    out.extend_from_slice(last);
    Ok(())
}

/// Inference over `n` samples in batches of `batch_size`: `run` computes one batch of rows and appends its outputs.
pub(super) fn predict_batches(
    n: usize,
    batch_size: usize,
    mut run: impl FnMut(&[usize], &mut dyn FnMut(&[f32], ActShape) -> Result<()>) -> Result<()>,
) -> Result<(Vec<f32>, Vec<usize>)> {
    let mut out = Vec::new();
    let mut shape = Vec::new();
    let mut rows = batch_rows(n, batch_size)?;
    for start in (0..n).step_by(batch_size) {
        rows.clear();
        rows.extend(start..(start + batch_size).min(n));
        run(&rows, &mut |last, last_shape| append_output(&mut out, &mut shape, n, last, last_shape))?;
    }
    shape[0] = n;
    Ok((out, shape))
}

impl Model {
    /// The buffers for predictions that share this model's weights ([`Model::predict_with`]). The model must be
    /// built (a float-input model is built by its first data: `predict` builds it).
    pub fn inference(&self) -> Result<Inference> {
        if !self.is_built() {
            return Err(LstmError::InvalidArgument("the model has no weights yet: its input size is set by the first data it sees".into()));
        }
        let in_features = if self.takes_tokens() { 0 } else { self.config.input_dim.unwrap_or(0) };
        let slots = plan::plan(&self.config.layers, in_features)?.slots;
        let n = slots.len();
        Ok(Inference {
            slots,
            acts: vec![Vec::new(); n],
            shapes: vec![ActShape::default(); n],
            masks: vec![None; n],
            batch: Batch { tokens_wanted: self.takes_tokens(), ..Batch::default() },
        })
    }

    /// Inference over `x` in batches, reading the weights only: any number of calls may run at once on one model,
    /// each with its own `scratch`. The results are [`Model::predict`]'s, bit for bit.
    pub fn predict_with(&self, scratch: &mut Inference, x: &DataRef, batch_size: usize) -> Result<(Vec<f32>, Vec<usize>)> {
        super::checks::check_batch_size(batch_size)?;
        self.check_input_ref(x)?;
        if !self.is_built() || scratch.slots.len() != self.layers.len() {
            return Err(LstmError::InvalidArgument("these inference buffers belong to another model, or the model is not built".into()));
        }
        let result = predict_batches(x.shape()[0], batch_size, |rows, append| {
            let Inference { slots, acts, shapes, masks, batch } = scratch;
            batch.gather(x, None, Some(rows))?;
            reserve_outputs(slots, acts, None, &self.config.layers, batch.shape)?;
            let pass = Pass { slots, acts, shapes, masks, batch };
            self.pool.install(|| pass.run(&self.params, self.config.seed, self.step, false))?;
            let last = slots.len() - 1;
            append(&acts[last], shapes[last])
        });
        if result.is_err() {
            let Inference { slots, acts, masks, batch, .. } = scratch;
            release_outputs(slots, acts, masks, batch);
        }
        result
    }
}
