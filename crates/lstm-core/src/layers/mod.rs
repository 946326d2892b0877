//! Layers as explicit `*_forward` / `*_backward` pairs over flat f32 buffers (no autograd tape).
//! Shapes are written `[B,T,F]`: batch, time, features. Gradients are prefixed `d`.
//! Backward passes *accumulate* into parameter gradients (`+=`), as PyTorch does, so `zero_grad` matters.
//!
//! Each layer kind lives in one file: its kernels, and a type implementing [`Layer`] that the model drives. Adding a
//! layer means one file, its config variant in `config.rs`, and one arm in [`build`] and in [`output_shape`].

pub mod conv1d;
pub mod dense;
pub mod dropout;
pub mod embedding;
pub mod gru;
pub mod lstm;
pub mod max_pooling1d;
pub mod pooling;
pub mod recurrent;
pub mod simple_rnn;

use crate::config::{Activation, Initializer, LayerConfig};
use crate::error::{LstmError, Result};
use crate::model::ActShape;
use crate::optim::{LowRankGrad, Optimizer, StepRule, TensorUpdate};
use std::ops::Range;

/// One parameter tensor a layer asks for: its PyTorch name (without the `{layer}.` prefix), shape and initializer.
#[derive(Clone, Debug)]
pub struct ParamSpec {
    pub name: String,
    pub shape: Vec<usize>,
    pub init: Initializer,
}

/// The feature size of an activation and whether it is a sequence `[B,T,F]` (else `[B,F]`), as known when building.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FeatureShape {
    pub f: usize,
    pub seq: bool,
}

/// A layer built for its input: the layer, its parameter tensors in arena order, and its output.
pub struct Built {
    pub layer: Box<dyn Layer>,
    pub params: Vec<ParamSpec>,
    pub output: FeatureShape,
}

/// What happens to the input mask `[B,T]` after a layer.
pub enum MaskOut {
    /// Passed on unchanged (the layer keeps the time axis step for step).
    Keep,
    /// Dropped (no time axis left, or a layer that does not carry a mask).
    Drop,
    /// A new mask (an embedding's `maskZero`).
    New(Vec<u8>),
}

/// A layer's parameter tensors: one contiguous run of the arena and each tensor's range within it.
#[derive(Clone, Copy)]
pub struct Params<'a> {
    pub data: &'a [f32],
    pub ranges: &'a [Range<usize>],
}

impl<'a> Params<'a> {
    /// Tensor `k` in the order of the layer's [`ParamSpec`]s.
    pub fn get(&self, k: usize) -> &'a [f32] {
        &self.data[self.ranges[k].clone()]
    }
}

/// The inputs of a forward pass.
pub struct Forward<'a> {
    /// The layer's index in the model: keys its dropout streams.
    pub index: usize,
    /// The input `[B,T,F]` or `[B,F]` (empty for an embedding, which reads `tokens`).
    pub x: &'a [f32],
    /// Token ids `[B,T]`, for an embedding.
    pub tokens: &'a [i32],
    /// At inference, for a layer that said it [`reads_embedded`](Layer::reads_embedded): the weight `[V, F]` of the
    /// embedding whose rows `tokens` picks are this layer's input; `x` is then empty (the embedding and the layers
    /// between, identities at inference, did not run).
    pub embedded: Option<&'a [f32]>,
    pub shape: ActShape,
    /// The input's mask `[B,T]` (0 = padded step), if any.
    pub mask: Option<&'a [u8]>,
    pub params: Params<'a>,
    /// Training turns dropout on.
    pub training: bool,
    pub seed: u64,
    /// Training steps taken: with `seed` and `index`, keys the dropout masks.
    pub step: u64,
}

/// The inputs and outputs of a backward pass.
pub struct Backward<'a> {
    pub x: &'a [f32],
    pub tokens: &'a [i32],
    /// The input's shape.
    pub shape: ActShape,
    pub mask: Option<&'a [u8]>,
    /// The layer's output from forward.
    pub y: &'a [f32],
    /// dL/dy; a layer may overwrite it (Dense leaves dL/dz there for the low-rank update).
    pub dy: &'a mut [f32],
    /// dL/dx to write, when wanted (not for the first layer, unless the input gradient is asked for).
    pub dx: Option<&'a mut [f32]>,
    /// The layer's parameters, mutable for the weights a layer updates itself ([`StepUpdates`]).
    pub params: &'a mut [f32],
    pub ranges: &'a [Range<usize>],
    /// Where to add each tensor's gradient; `None` for a tensor whose gradient this step leaves as factors
    /// ([`Layer::low_rank_grads`]).
    pub grads: Vec<Option<&'a mut [f32]>>,
    /// The batch-1 machinery for weights updated inside backward, when this step may do so.
    pub inline: StepUpdates<'a>,
}

/// Weight updates that a layer's backward may apply itself, in the pass of the weight's last product, so that the
/// update does not read the weight again. Only for tensors whose gradients this step leaves as factors.
pub struct StepUpdates<'a> {
    /// Per tensor of the layer: its gradient is left as factors this step.
    pub low_rank: &'a [bool],
    /// Per tensor of the layer: set when backward updated it.
    pub updated: &'a mut [bool],
    /// The tensors' ranges in the whole arena (the optimizer's state is laid out like it).
    pub arena_ranges: &'a [Range<usize>],
    pub optimizer: Option<&'a mut Optimizer>,
    /// The step's rule, begun by the first inline update of the step and finished by the model's update.
    pub rule: &'a mut Option<StepRule>,
}

impl<'a> StepUpdates<'a> {
    /// Whether tensor `k`'s gradient is left as factors this step.
    pub fn planned(&self, k: usize) -> bool {
        self.low_rank.get(k).copied().unwrap_or(false)
    }

    /// The updates of tensors `ks`, beginning the optimizer's step if none has begun. The caller marks in `updated`
    /// the ones it applies.
    pub fn take<const N: usize>(&mut self, ks: [usize; N]) -> [TensorUpdate<'_>; N] {
        let opt = self.optimizer.as_deref_mut().expect("inline updates need a compiled model");
        let rule = *self.rule.get_or_insert_with(|| opt.begin_step());
        opt.tensor_updates(rule, ks.map(|k| self.arena_ranges[k].clone()))
    }
}

/// A recurrent layer's state between [`crate::Model::predict_step`] calls: one `[B,H]` buffer per state tensor (an
/// LSTM has h and c).
pub type RecurrentState = Vec<Vec<f32>>;

/// What a layer is to an inference pass that lets a recurrent layer read an embedding's rows by token itself
/// ([`Forward::embedded`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InferenceRole {
    /// An embedding of rows of `dim` floats, making the padding mask with `mask_zero`.
    Embedding {
        dim: usize,
        mask_zero: bool,
    },
    /// Its output is its input at inference, mask included (dropout).
    Identity,
    Other,
}

/// One layer of a sequential model. The model owns the activations and the parameter arena; the layer owns what its
/// backward pass needs from its forward pass (caches, masks, scratch).
pub trait Layer: Send + Sync {
    /// Runs the layer on `fw`, writing its output into `out` (resized by the layer); returns the output's shape and
    /// what becomes of the mask.
    fn forward(&mut self, fw: Forward<'_>, out: &mut Vec<f32>) -> Result<(ActShape, MaskOut)>;

    /// Backward of the last [`Layer::forward`] with `training` set.
    fn backward(&mut self, bw: Backward<'_>);

    /// Makes room, before any work, for every buffer of the layer's own that grows with the batch and that a
    /// forward pass over an input of `shape` (and its backward, with `training`) will size, so that a batch too
    /// large for memory fails here with `OutOfMemory`, and the passes only resize within capacity (no allocation,
    /// no check, inside their loops). The model reserves its activations itself.
    fn reserve(&mut self, shape: ActShape, training: bool) -> Result<()>;

    /// Frees those buffers (after an `OutOfMemory`, so that the memory reserved by then goes back).
    fn release(&mut self);

    /// The layer's tensors (indices into its [`ParamSpec`]s) whose gradients a step over at most `kernels::gemm::SMALL`
    /// rows may leave as factors, for the optimizer to form on the fly.
    fn low_rank_candidates(&self) -> Vec<usize> {
        Vec::new()
    }

    /// The factors of each low-rank gradient (`grads[k]` for tensor k) after backward; `x` is the layer's input over
    /// `shape`, and `dy` what backward left in the output gradient.
    fn low_rank_grads<'a>(&'a self, _x: &'a [f32], _shape: ActShape, _dy: &'a [f32], _grads: &mut [Option<LowRankGrad<'a>>]) {}

    /// Initialisation beyond each tensor's initializer (an LSTM's unit forget bias), on the layer's parameters.
    fn after_init(&self, _params: &mut [f32], _ranges: &[Range<usize>]) {}

    /// For an output layer: its activation and pre-activation, so the loss can take its gradient with respect to
    /// the logits. `None`: the output is linear.
    fn logits(&self) -> Option<(Activation, &[f32])> {
        None
    }

    /// Told by the loss whether the output gradient is already with respect to the logits.
    fn set_grad_is_wrt_logits(&mut self, _yes: bool) {}

    /// See [`InferenceRole`].
    fn inference_role(&self) -> InferenceRole {
        InferenceRole::Other
    }

    /// Whether, at inference over `shape`, the layer would rather take its input as an embedding's rows picked by the
    /// token ids ([`Forward::embedded`]) than as those rows copied out.
    fn reads_embedded(&self, _shape: ActShape) -> bool {
        false
    }

    /// Whether the layer carries a state between [`crate::Model::predict_step`] calls.
    fn is_recurrent(&self) -> bool {
        false
    }

    /// Why stateful inference cannot run through this layer, if it cannot.
    fn stateful_unsupported(&self) -> Option<String> {
        None
    }

    /// The state to start the next forward pass from (`None`: zeros), for a batch of `b`.
    fn set_initial_state(&mut self, _b: usize, _state: Option<&RecurrentState>) -> Result<()> {
        Ok(())
    }

    /// The state after the last forward pass of `b` sequences of `t` steps (zeros when `ok` is false), clearing
    /// the initial state so training and `predict` start from zeros again.
    fn take_final_state(&mut self, _b: usize, _t: usize, _ok: bool) -> Result<Option<RecurrentState>> {
        Ok(None)
    }
}

/// Builds the layer `config` for `input`; the registry of layer kinds.
pub fn build(config: &LayerConfig, index: usize, input: FeatureShape) -> Result<Built> {
    match config {
        LayerConfig::Embedding(c) => embedding::build(c, index, input),
        LayerConfig::Lstm(c) => lstm::build(c, index, input),
        LayerConfig::Gru(c) => gru::build(c, index, input),
        LayerConfig::SimpleRnn(c) => simple_rnn::build(c, index, input),
        LayerConfig::Conv1d(c) => conv1d::build(c, index, input),
        LayerConfig::MaxPooling1d(c) => max_pooling1d::build(c, index, input),
        LayerConfig::Dense(c) => dense::build(c, index, input),
        LayerConfig::Dropout(c) => dropout::build(c, index, input),
        LayerConfig::GlobalAveragePooling1d(_) => pooling::build(pooling::Pool::Average, config, index, input),
        LayerConfig::GlobalMaxPooling1d(_) => pooling::build(pooling::Pool::Max, config, index, input),
    }
}

/// The output shape of `config` for an input of shape `input` (summaries need it before the model is built).
pub fn output_shape(config: &LayerConfig, input: ActShape) -> ActShape {
    match config {
        LayerConfig::Embedding(c) => ActShape { f: c.output_dim, ..input },
        LayerConfig::Lstm(c) => lstm::output_shape(c, input),
        LayerConfig::Gru(c) => gru::output_shape(c, input),
        LayerConfig::SimpleRnn(c) => simple_rnn::output_shape(c, input),
        LayerConfig::Conv1d(c) => conv1d::output_shape(c, input),
        LayerConfig::MaxPooling1d(c) => max_pooling1d::output_shape(c, input),
        LayerConfig::Dense(c) => ActShape { f: c.units, ..input },
        LayerConfig::Dropout(_) => input,
        LayerConfig::GlobalAveragePooling1d(_) | LayerConfig::GlobalMaxPooling1d(_) => ActShape { t: None, ..input },
    }
}

/// A parameter count `a·b` for layer `index`, or `InvalidConfig` when it overflows.
pub(crate) fn checked_mul(index: usize, a: usize, b: usize) -> Result<usize> {
    a.checked_mul(b).ok_or_else(|| LstmError::InvalidConfig(format!("layer {index}: the parameter count overflows; the sizes are too large")))
}

/// Reserves room in `v` for a buffer of `dims` elements, named `name` in the `OutOfMemory` error, of layer
/// `index` (`kind`); see [`Layer::reserve`].
pub(crate) fn room<T>(v: &mut Vec<T>, dims: &[usize], index: usize, kind: &str, name: &str) -> Result<()> {
    let what = || format!("the {name} {dims:?} of layer {index} ({kind})");
    let len = crate::mem::count::<T>(dims, what)?;
    crate::mem::room(v, len, what)
}

/// [`room`] for each `(buffer, dims, name)` of layer `index` (`kind`).
pub(crate) fn room_all(index: usize, kind: &str, buffers: &mut [(&mut Vec<f32>, Vec<usize>, &'static str)]) -> Result<()> {
    buffers.iter_mut().try_for_each(|(v, dims, name)| room(v, dims, index, kind, name))
}

/// A recurrent state buffer of `n` floats for layer `index` (`kind`): a copy of `from` when it has `n` floats,
/// else zeros.
pub(crate) fn state_buffer(dst: &mut Vec<f32>, from: Option<&Vec<f32>>, n: usize, index: usize, kind: &str) -> Result<()> {
    dst.clear();
    room(dst, &[n], index, kind, "recurrent state")?;
    match from {
        Some(s) if s.len() == n => dst.extend_from_slice(s),
        _ => dst.resize(n, 0.0),
    }
    Ok(())
}

/// The time steps of an input a layer needs to be a sequence (the build made sure it is).
pub(crate) fn steps(index: usize, kind: &str, shape: ActShape) -> Result<usize> {
    shape.t.ok_or_else(|| LstmError::shape(format!("input of layer {index} ({kind})"), "[batch, timesteps, features]", shape.dims()))
}
