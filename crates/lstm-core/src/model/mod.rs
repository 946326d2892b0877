//! A sequential stack with one flat parameter arena: params, grads and optimizer state each live in one contiguous
//! buffer, and every layer reads named views of it. Models run on the process's shared compute pools, or on one of
//! their own ([`crate::pool`]).
//!
//! This module orchestrates: the arena, the layer sequence and its activations, masks, the loss and the optimizer.
//! What each layer computes lives in `layers/`, behind [`crate::layers::Layer`]. The rest is split along its seams:
//! - `plan`: the layers and the arena layout for an input;
//! - `checks`: the caller's data against the model;
//! - `fused`: batch-1 steps whose weight gradients stay low-rank and are applied by the update (or by backward);
//! - `inference`: the forward pass over borrowed buffers, and predictions that share the weights;
//! - `stateful`: `predict_step`, the recurrent states carried between calls;
//! - `training`: the batch loop over a checked dataset, with its stop flag.

mod checks;
mod fused;
mod inference;
mod plan;
mod stateful;
mod training;

pub use checks::check_finite;
pub use inference::Inference;

use inference::{predict_batches, release_outputs, reserve_outputs, Pass};

use crate::config::{Activation, LayerConfig, LossConfig, ModelConfig, OptimizerConfig};
use crate::data::{Batch, DataRef};
use crate::error::{LstmError, Result};
use crate::init;
use crate::layers::{self, Backward, Layer, RecurrentState, StepUpdates};
use crate::loss::{loss_forward_backward, TargetRef};
use crate::mem;
use crate::optim::{Optimizer, StepRule};
use crate::pool::{Pool, Threads};
use crate::rng;
use checks::check_batch_size;
use std::ops::Range;

/// One named parameter tensor in the arena, e.g. `1.weight_ih` `[400, 50]`.
#[derive(Clone, Debug)]
pub struct ParamEntry {
    /// `{layer}.{name}`, PyTorch's names.
    pub name: String,
    pub shape: Vec<usize>,
    pub range: Range<usize>,
}

/// Loss and accuracy of a step or of a whole evaluation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stats {
    pub loss: f64,
    pub accuracy: f64,
}

/// A built layer and where its tensors are.
struct Slot {
    layer: Box<dyn Layer>,
    /// Indices into `Model::entries`.
    entries: Range<usize>,
    /// The layer's run of the arena.
    span: Range<usize>,
    /// Each tensor's range within `span`.
    ranges: Vec<Range<usize>>,
    /// Each tensor's range in the whole arena.
    arena_ranges: Vec<Range<usize>>,
}

/// The shape of an activation: `[b, t, f]` for sequences, `[b, f]` otherwise.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ActShape {
    pub b: usize,
    pub t: Option<usize>,
    pub f: usize,
}

impl ActShape {
    pub fn len(&self) -> usize {
        self.b * self.t.unwrap_or(1) * self.f
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    pub fn dims(&self) -> Vec<usize> {
        match self.t {
            Some(t) => vec![self.b, t, self.f],
            None => vec![self.b, self.f],
        }
    }
}

struct Compiled {
    loss: LossConfig,
    optimizer: Optimizer,
}

pub struct Model {
    config: ModelConfig,
    layers: Vec<Slot>,
    entries: Vec<ParamEntry>,
    params: Vec<f32>,
    grads: Vec<f32>,
    compiled: Option<Compiled>,
    pool: Pool,
    num_threads: usize,
    /// Training steps taken; keys the dropout masks.
    step: u64,
    // Activations of the last forward pass: acts[l] is layer l's output; masks[l] is the mask of layer l's input.
    acts: Vec<Vec<f32>>,
    dacts: Vec<Vec<f32>>,
    shapes: Vec<ActShape>,
    masks: Vec<Option<Vec<u8>>>,
    batch: Batch,
    /// Recurrent states per layer, carried between `predict_step` calls.
    states: Vec<Option<RecurrentState>>,
    /// The batch size the carried `states` were computed for (meaningful while `states` is not empty).
    state_batch: usize,
    /// When set, backward also computes dL/dx for a float input (the golden tests check it).
    pub compute_input_grad: bool,
    input_grad: Vec<f32>,
    /// Per entry: during this training step, the gradient is left as low-rank factors for the update to form on
    /// the fly (`optim::LowRankGrad`) instead of being stored in the arena.
    low_rank: Vec<bool>,
    /// This training step's update rule once backward has begun updating weights itself ([`StepUpdates`]), and
    /// per entry whether it did.
    inline_step: Option<StepRule>,
    updated_inline: Vec<bool>,
}

impl Model {
    /// Builds a model; the weights are created now when the input's feature size is known (an embedding first, or
    /// `inputShape`), otherwise at the first data seen. Its work uses at most `num_threads` threads (0: one per
    /// core) of the process's shared pools.
    pub fn new(config: ModelConfig, num_threads: usize) -> Result<Model> {
        Self::create(config, Threads::shared(num_threads), true)
    }

    /// [`Model::new`] with the choice of shared or dedicated threads.
    pub fn with_threads(config: ModelConfig, threads: Threads) -> Result<Model> {
        Self::create(config, threads, true)
    }

    /// A model whose weights are about to be read from a file: the initializers are skipped (the orthogonal one
    /// alone costs about half a second for a 512-unit layer).
    pub(crate) fn new_for_load(config: ModelConfig, threads: Threads) -> Result<Model> {
        Self::create(config, threads, false)
    }

    fn create(config: ModelConfig, threads: Threads, initialize: bool) -> Result<Model> {
        // A bad LSTM_NATIVE_SIMD fails here, before any kernel runs.
        crate::kernels::simd::level()?;
        if config.layers.is_empty() {
            return Err(LstmError::InvalidConfig("a model needs at least one layer".into()));
        }
        for (i, l) in config.layers.iter().enumerate() {
            l.validate(i)?;
            if i > 0 && matches!(l, LayerConfig::Embedding(_)) {
                return Err(LstmError::InvalidConfig(format!("layer {i} (embedding): an embedding must be the first layer")));
            }
        }
        let (pool, num_threads) = Pool::for_threads(threads)?;
        let mut config = config;
        if config.input_dim.is_none() {
            config.input_dim = config.layers[0].input_shape().and_then(|s| *s.last().unwrap());
        }
        let mut model = Model {
            config,
            layers: Vec::new(),
            entries: Vec::new(),
            params: Vec::new(),
            grads: Vec::new(),
            compiled: None,
            pool,
            num_threads,
            step: 0,
            acts: Vec::new(),
            dacts: Vec::new(),
            shapes: Vec::new(),
            masks: Vec::new(),
            batch: Batch::default(),
            states: Vec::new(),
            state_batch: 0,
            compute_input_grad: false,
            input_grad: Vec::new(),
            low_rank: Vec::new(),
            inline_step: None,
            updated_inline: Vec::new(),
        };
        model.batch.tokens_wanted = model.takes_tokens();
        let known = if model.takes_tokens() { Some(0) } else { model.config.input_dim };
        if let Some(f) = known {
            model.build_with(f, initialize)?;
        }
        if let (Some(loss), Some(opt)) = (model.config.loss.clone(), model.config.optimizer.clone()) {
            model.compile(loss, opt)?;
        }
        Ok(model)
    }

    pub fn config(&self) -> &ModelConfig {
        &self.config
    }
    /// The most threads this model's work uses.
    pub fn num_threads(&self) -> usize {
        self.num_threads
    }
    /// Whether the model runs on a pool of its own rather than the shared ones.
    pub fn has_dedicated_pool(&self) -> bool {
        self.pool.is_dedicated()
    }
    /// Queues `job` on this model's compute pool and returns at once. A job running there may use the model's
    /// kernels (their parallel work runs on the same pool), but must not block waiting for something that needs
    /// the pool's threads: with every thread blocked, nothing would run.
    pub fn spawn(&self, job: impl FnOnce() + Send + 'static) {
        self.pool.spawn(job)
    }
    pub fn is_built(&self) -> bool {
        !self.layers.is_empty()
    }
    pub fn is_compiled(&self) -> bool {
        self.compiled.is_some()
    }
    pub fn step(&self) -> u64 {
        self.step
    }
    pub fn entries(&self) -> &[ParamEntry] {
        &self.entries
    }
    pub fn params(&self) -> &[f32] {
        &self.params
    }
    pub fn grads(&self) -> &[f32] {
        &self.grads
    }
    pub fn input_grad(&self) -> &[f32] {
        &self.input_grad
    }

    /// The first layer is an embedding: the input is token ids.
    fn takes_tokens(&self) -> bool {
        matches!(self.config.layers[0], LayerConfig::Embedding(_))
    }

    /// The number of parameters `config` describes, without allocating them, or `None` while the float input's
    /// feature size is unknown. Errors as [`Model::new`] would (`InvalidConfig`), including for sizes that overflow.
    pub fn parameter_count(config: &ModelConfig) -> Result<Option<usize>> {
        let in_features = match &config.layers.first() {
            None => return Err(LstmError::InvalidConfig("a model needs at least one layer".into())),
            Some(LayerConfig::Embedding(_)) => 0,
            Some(first) => match config.input_dim.or_else(|| first.input_shape().and_then(|s| *s.last().unwrap_or(&None))) {
                Some(f) => f,
                None => return Ok(None),
            },
        };
        for (i, l) in config.layers.iter().enumerate() {
            l.validate(i)?;
        }
        Ok(Some(plan::plan(&config.layers, in_features)?.total))
    }

    /// Creates the layers and the arena for a float input of `in_features` (ignored after an embedding).
    fn build(&mut self, in_features: usize) -> Result<()> {
        self.build_with(in_features, true)
    }

    fn build_with(&mut self, in_features: usize, initialize: bool) -> Result<()> {
        let plan = plan::plan(&self.config.layers, in_features)?;
        // Everything allocated before anything changes, so that an OutOfMemory leaves the model as it was.
        let params = plan::zeroed(plan.total, "parameters")?;
        let grads = plan::zeroed(plan.total, "gradients")?;
        let optimizer = self.compiled.as_ref().map(|c| Optimizer::new(c.optimizer.config.clone(), plan.total)).transpose()?;
        let mut params = params;
        if initialize {
            // Each tensor from its own seeded stream, then what a layer adds (an LSTM's unit forget bias).
            for (k, init_cfg) in plan.inits.iter().enumerate() {
                let e = &plan.entries[k];
                let mut r = rng::seeded(self.config.seed, k as u64, 0x1417);
                init::fill_tensor(init_cfg, &e.shape, &mut r, &mut params[e.range.clone()])?;
            }
            for slot in &plan.slots {
                slot.layer.after_init(&mut params[slot.span.clone()], &slot.ranges);
            }
        }
        (self.params, self.grads) = (params, grads);
        if let (Some(c), Some(o)) = (&mut self.compiled, optimizer) {
            c.optimizer = o;
        }
        self.entries = plan.entries;
        self.layers = plan.slots;
        let n = self.layers.len();
        self.acts = vec![Vec::new(); n];
        self.dacts = vec![Vec::new(); n];
        self.shapes = vec![ActShape { b: 0, t: None, f: 0 }; n];
        self.masks = vec![None; n];
        self.states.clear();
        if !self.takes_tokens() {
            self.config.input_dim = Some(in_features);
        }
        Ok(())
    }

    /// Sets the loss and optimizer (fresh optimizer state).
    pub fn compile(&mut self, loss: LossConfig, optimizer: OptimizerConfig) -> Result<()> {
        let state = Optimizer::new(optimizer.clone(), self.params.len())?;
        self.config.loss = Some(loss.clone());
        self.config.optimizer = Some(optimizer);
        self.compiled = Some(Compiled { loss, optimizer: state });
        Ok(())
    }

    /// The optimizer's learning rate (Keras's `optimizer.learning_rate`).
    pub fn learning_rate(&self) -> Result<f32> {
        Ok(self.compiled.as_ref().ok_or_else(not_compiled)?.optimizer.config.learning_rate)
    }

    /// Changes the learning rate and keeps the optimizer's state (Keras's `optimizer.learning_rate.assign`), for
    /// schedules; the configuration saved with the model records the new rate.
    pub fn set_learning_rate(&mut self, lr: f64) -> Result<()> {
        if !(lr.is_finite() && lr >= 0.0 && lr as f32 <= f32::MAX) {
            return Err(LstmError::InvalidConfig(format!("learning rate must be a finite number >= 0, got {lr}")));
        }
        let compiled = self.compiled.as_mut().ok_or_else(not_compiled)?;
        compiled.optimizer.config.learning_rate = lr as f32;
        if let Some(o) = self.config.optimizer.as_mut() {
            o.learning_rate = lr as f32;
        }
        Ok(())
    }

    /// The output shape for an input of `b` samples and `t` steps, layer by layer (for summaries).
    pub fn layer_output_shapes(&self, b: usize, t: Option<usize>) -> Vec<ActShape> {
        let mut shape = ActShape { b, t, f: self.config.input_dim.unwrap_or(0) };
        self.config
            .layers
            .iter()
            .map(|cfg| {
                shape = layers::output_shape(cfg, shape);
                shape
            })
            .collect()
    }

    /// Parameter count per layer.
    pub fn layer_param_counts(&self) -> Vec<usize> {
        self.layers.iter().map(|l| l.span.len()).collect()
    }

    // -----------------------------------------------------------------------------------------------------------
    // Forward and backward

    /// Makes room for every buffer a pass over the gathered batch sizes (with `training`, its backward's too):
    /// the activations here, each layer's own through [`Layer::reserve`]. A batch too large for memory is
    /// `OutOfMemory` before anything is computed; what was reserved by then is freed, and the model is as it was.
    fn reserve(&mut self, training: bool) -> Result<()> {
        let result = self.try_reserve(training);
        if result.is_err() {
            self.release();
        }
        result
    }

    fn try_reserve(&mut self, training: bool) -> Result<()> {
        let shape = self.batch.shape;
        if training && self.compute_input_grad && !self.batch.floats.is_empty() {
            mem::room(&mut self.input_grad, mem::count::<f32>(&shape.dims(), || "the input gradient".into())?, || {
                format!("the input gradient {:?}", shape.dims())
            })?;
        }
        let dacts = if training { Some(self.dacts.as_mut_slice()) } else { None };
        reserve_outputs(&mut self.layers, &mut self.acts, dacts, &self.config.layers, shape)
    }

    /// Frees the buffers that grow with the batch (after an `OutOfMemory`).
    fn release(&mut self) {
        release_outputs(&mut self.layers, &mut self.acts, &mut self.masks, &mut self.batch);
        for v in &mut self.dacts {
            *v = Vec::new();
        }
        self.input_grad = Vec::new();
    }

    /// Gathers `rows` of `x` (and `y`) into the batch (see [`Batch::gather`]), freeing the batch buffers when they
    /// cannot grow.
    fn gather(&mut self, x: &DataRef, y: Option<&DataRef>, rows: Option<&[usize]>) -> Result<()> {
        let result = self.batch.gather(x, y, rows);
        if result.is_err() {
            self.release();
        }
        result
    }

    /// Runs every layer on the gathered batch. `training` turns dropout on.
    fn forward(&mut self, training: bool) -> Result<()> {
        self.reserve(training)?;
        let Model { layers, params, acts, shapes, masks, batch, config, pool, step, .. } = self;
        let pass = Pass { slots: layers, acts, shapes, masks, batch };
        pool.install(|| pass.run(params, config.seed, *step, training))
    }

    /// Backward through every layer; `dacts[last]` already holds dL/d(output). Accumulates into `grads`, except for
    /// the tensors `low_rank` marks.
    fn backward(&mut self) {
        let Model {
            layers,
            entries,
            params,
            grads,
            acts,
            dacts,
            shapes,
            masks,
            batch,
            pool,
            compute_input_grad,
            input_grad,
            low_rank,
            compiled,
            inline_step,
            updated_inline,
            ..
        } = self;
        updated_inline.clear();
        updated_inline.resize(entries.len(), false);
        low_rank.resize(entries.len(), false);
        let need_x_grad = *compute_input_grad && !batch.floats.is_empty();
        pool.install(|| {
            for l in (0..layers.len()).rev() {
                let slot = &mut layers[l];
                let in_shape = if l == 0 { batch.shape } else { shapes[l - 1] };
                let (dbefore, dafter) = dacts.split_at_mut(l);
                let dx: Option<&mut Vec<f32>> = if l > 0 {
                    Some(&mut dbefore[l - 1])
                } else if need_x_grad {
                    Some(&mut *input_grad)
                } else {
                    None
                };
                let dx = dx.map(|v| {
                    v.resize(in_shape.len(), 0.0);
                    v.as_mut_slice()
                });
                let es = slot.entries.clone();
                let lr = &low_rank[es.clone()];
                let layer_grads =
                    split_grads(&mut grads[slot.span.clone()], &slot.ranges).into_iter().zip(lr).map(|(g, &lr)| if lr { None } else { Some(g) }).collect();
                let bw = Backward {
                    x: if l == 0 { &batch.floats } else { &acts[l - 1] },
                    tokens: &batch.tokens,
                    shape: in_shape,
                    mask: masks[l].as_deref(),
                    y: &acts[l],
                    dy: &mut dafter[0],
                    dx,
                    params: &mut params[slot.span.clone()],
                    ranges: &slot.ranges,
                    grads: layer_grads,
                    inline: StepUpdates {
                        low_rank: lr,
                        updated: &mut updated_inline[es],
                        arena_ranges: &slot.arena_ranges,
                        optimizer: compiled.as_mut().map(|c| &mut c.optimizer),
                        rule: inline_step,
                    },
                };
                slot.layer.backward(bw);
            }
        });
    }

    /// Loss of the current output against the batch targets; writes dL/d(output) when `with_grad`.
    fn compute_loss(&mut self, with_grad: bool) -> Result<(f64, usize, usize)> {
        let loss = self.loss()?.clone();
        let last = self.layers.len() - 1;
        let out = &self.acts[last];
        let (act, z): (Activation, &[f32]) = self.layers[last].layer.logits().unwrap_or((Activation::Linear, out));
        let width = self.shapes[last].f;
        let target = TargetRef::Floats(&self.batch.y);
        let dout = if with_grad {
            self.dacts[last].resize(out.len(), 0.0);
            Some(self.dacts[last].as_mut_slice())
        } else {
            None
        };
        let r = loss_forward_backward(&loss, out, z, act, width, target, dout)?;
        self.layers[last].layer.set_grad_is_wrt_logits(r.grad_wrt_logits);
        Ok((r.loss, r.correct, r.counted))
    }

    // -----------------------------------------------------------------------------------------------------------
    // Public steps

    /// Forward, loss and backward on one batch, adding into the gradients (call `zero_grad` first).
    pub fn forward_backward(&mut self, x: &DataRef, y: &DataRef) -> Result<Stats> {
        self.check_input(x)?;
        self.check_target(x, y)?;
        self.gather(x, Some(y), None)?;
        self.forward(true)?;
        let (loss, correct, counted) = self.compute_loss(true)?;
        self.low_rank.clear();
        self.backward();
        self.low_rank.clear();
        Ok(Stats { loss, accuracy: correct as f64 / counted.max(1) as f64 })
    }

    pub fn zero_grad(&mut self) {
        self.grads.fill(0.0);
    }

    /// One optimizer update from the current gradients.
    pub fn apply_gradients(&mut self) -> Result<()> {
        let ranges: Vec<Range<usize>> = self.entries.iter().map(|e| e.range.clone()).collect();
        let Model { compiled, params, grads, pool, .. } = self;
        let c = compiled.as_mut().ok_or_else(not_compiled)?;
        pool.install(|| c.optimizer.apply(params, grads, &ranges));
        self.step += 1;
        self.check_update()
    }

    /// After an update: `NonFinite` naming the first tensor the update made non-finite (weight or optimizer state)
    /// and the step, if the update kernels raised their flag. The search runs only then, so a sound step pays
    /// nothing beyond the compares inside the update loops.
    pub(super) fn check_update(&self) -> Result<()> {
        let Some(c) = &self.compiled else { return Ok(()) };
        if !c.optimizer.take_non_finite() {
            return Ok(());
        }
        let (s1, s2) = c.optimizer.slot_names();
        for e in &self.entries {
            let tensors = [("weight", &self.params), (s1, &c.optimizer.s1), (s2, &c.optimizer.s2)];
            for (what, values) in tensors {
                if let Some((k, &value)) = values[e.range.clone()].iter().enumerate().find(|(_, x)| !x.is_finite()) {
                    let what = if what == "weight" { format!("weight {}", e.name) } else { format!("optimizer state {what} of {}", e.name) };
                    return Err(LstmError::NonFinite {
                        what: format!("{what}, written by the optimizer update of training step {}", self.step),
                        value,
                        position: format!("{}{:?}", e.name, checks::unravel(k, &e.shape)),
                    });
                }
            }
        }
        Ok(())
    }

    /// `zero_grad`, forward, backward and one update, on a whole batch.
    pub fn train_step(&mut self, x: &DataRef, y: &DataRef) -> Result<Stats> {
        self.loss()?;
        self.check_input(x)?;
        self.check_target(x, y)?;
        self.gather(x, Some(y), None)?;
        self.train_gathered()
    }

    /// One training step on rows `rows` of a dataset already checked by [`Model::check_dataset`].
    pub fn train_rows(&mut self, x: &DataRef, y: &DataRef, rows: &[usize]) -> Result<Stats> {
        self.loss()?;
        // Cheap next to the step, and an out-of-range row would otherwise panic in the gather.
        let n = x.shape().first().copied().unwrap_or(0);
        if rows.is_empty() {
            return Err(LstmError::InvalidArgument("train_rows needs at least one row".into()));
        }
        if let Some(&r) = rows.iter().find(|&&r| r >= n) {
            return Err(LstmError::IndexOutOfRange { index: r as i64, limit: n, position: "train_rows rows".into() });
        }
        self.gather(x, Some(y), Some(rows))?;
        self.train_gathered()
    }

    /// Forward, loss, backward and update on the gathered batch. Weight gradients over at most `SMALL` rows (a
    /// batch-1 step) are not stored: the update forms them from their factors, bit-identically (see
    /// `Optimizer::apply_fused`). `grads()` then holds only the other tensors' gradients.
    fn train_gathered(&mut self) -> Result<Stats> {
        self.forward(true)?;
        self.plan_low_rank();
        for (e, fused) in self.entries.iter().zip(&self.low_rank) {
            if !fused {
                self.grads[e.range.clone()].fill(0.0);
            }
        }
        let result = self.compute_loss(true).map(|(loss, correct, counted)| {
            self.backward();
            Stats { loss, accuracy: correct as f64 / counted.max(1) as f64 }
        });
        let applied = match &result {
            Ok(_) => self.apply_low_rank(),
            Err(_) => Ok(()),
        };
        self.low_rank.clear();
        self.updated_inline.clear();
        debug_assert!(self.inline_step.is_none(), "a step begun in backward is finished by the update");
        self.inline_step = None;
        applied?;
        result
    }

    /// Inference over `x` in batches; returns the output and its shape.
    pub fn predict(&mut self, x: &DataRef, batch_size: usize) -> Result<(Vec<f32>, Vec<usize>)> {
        check_batch_size(batch_size)?;
        self.check_input(x)?;
        predict_batches(x.shape()[0], batch_size, |rows, append| {
            self.gather(x, None, Some(rows))?;
            self.forward(false)?;
            let last = self.layers.len() - 1;
            append(&self.acts[last], self.shapes[last])
        })
    }

    /// Mean loss and accuracy over `x`, `y` in batches (weighted by batch size), in inference mode.
    pub fn evaluate(&mut self, x: &DataRef, y: &DataRef, batch_size: usize) -> Result<Stats> {
        check_batch_size(batch_size)?;
        self.check_dataset(x, y)?;
        self.evaluate_checked(x, y, batch_size)
    }

    /// [`Model::evaluate`] on data already checked.
    pub fn evaluate_checked(&mut self, x: &DataRef, y: &DataRef, batch_size: usize) -> Result<Stats> {
        check_batch_size(batch_size)?;
        let n = x.shape()[0];
        let (mut loss_sum, mut correct, mut counted) = (0.0f64, 0usize, 0usize);
        let mut rows = batch_rows(n, batch_size)?;
        for start in (0..n).step_by(batch_size) {
            rows.clear();
            rows.extend(start..(start + batch_size).min(n));
            self.gather(x, Some(y), Some(&rows))?;
            self.forward(false)?;
            let (l, c, k) = self.compute_loss(false)?;
            loss_sum += l * rows.len() as f64;
            correct += c;
            counted += k;
        }
        Ok(Stats { loss: loss_sum / n as f64, accuracy: correct as f64 / counted.max(1) as f64 })
    }

    // -----------------------------------------------------------------------------------------------------------
    // Weights

    pub fn get_weight(&self, name: &str) -> Option<(&[f32], &[usize])> {
        self.entries.iter().find(|e| e.name == name).map(|e| (&self.params[e.range.clone()], e.shape.as_slice()))
    }

    pub fn get_grad(&self, name: &str) -> Option<&[f32]> {
        self.entries.iter().find(|e| e.name == name).map(|e| &self.grads[e.range.clone()])
    }

    /// Replaces one tensor; the shape must match and every value be finite.
    pub fn set_weight(&mut self, name: &str, shape: &[usize], data: &[f32]) -> Result<()> {
        let range = self.checked_weight(name, shape, data)?;
        self.params[range].copy_from_slice(data);
        Ok(())
    }

    /// Replaces several tensors, all or none: every one is checked (name, shape, finite values) before any changes.
    pub fn set_weights(&mut self, weights: &[(String, Vec<usize>, Vec<f32>)]) -> Result<()> {
        let ranges = weights.iter().map(|(name, shape, data)| self.checked_weight(name, shape, data)).collect::<Result<Vec<_>>>()?;
        for (range, (_, _, data)) in ranges.into_iter().zip(weights) {
            self.params[range].copy_from_slice(data);
        }
        Ok(())
    }

    /// The arena range of weight `name`, once `shape` and `data` are checked against it.
    fn checked_weight(&self, name: &str, shape: &[usize], data: &[f32]) -> Result<Range<usize>> {
        let e = self.entries.iter().find(|e| e.name == name).ok_or_else(|| {
            let known: Vec<&str> = self.entries.iter().map(|e| e.name.as_str()).collect();
            LstmError::InvalidArgument(format!("no weight named {name:?}; this model has {known:?}"))
        })?;
        if shape != e.shape.as_slice() || data.len() != e.range.len() {
            return Err(LstmError::ShapeMismatch {
                what: format!("weight {name}"),
                expected: format!("{:?}", e.shape),
                got: format!("{shape:?} ({} values)", data.len()),
            });
        }
        check_finite(name, data, shape)?;
        Ok(e.range.clone())
    }

    pub(crate) fn params_mut(&mut self) -> &mut [f32] {
        &mut self.params
    }

    pub(crate) fn optimizer_state(&self) -> Option<&Optimizer> {
        self.compiled.as_ref().map(|c| &c.optimizer)
    }

    pub(crate) fn optimizer_state_mut(&mut self) -> Option<&mut Optimizer> {
        self.compiled.as_mut().map(|c| &mut c.optimizer)
    }

    pub(crate) fn set_step(&mut self, step: u64) {
        self.step = step;
    }

    /// The order of rows for epoch `epoch`: a seeded shuffle, the same on every thread count.
    pub fn epoch_order(&self, n: usize, epoch: u64) -> Result<Vec<usize>> {
        use rand::seq::SliceRandom;
        let mut order = mem::collected(n, 0..n, || format!("the row order of an epoch of {n} rows"))?;
        order.shuffle(&mut rng::seeded(self.config.seed, SHUFFLE_STREAM, epoch));
        Ok(order)
    }
}

/// Separates the shuffling stream from the initializers'.
const SHUFFLE_STREAM: u64 = 0x53_4855_4646_4c45;

/// The row indices of one batch of at most `batch_size` of `n` rows, reused from batch to batch.
fn batch_rows(n: usize, batch_size: usize) -> Result<Vec<usize>> {
    let mut rows = Vec::new();
    let len = batch_size.min(n);
    mem::room(&mut rows, len, || format!("the row indices of a batch of {len}"))?;
    Ok(rows)
}

fn not_compiled() -> LstmError {
    LstmError::InvalidConfig("the model is not compiled: call compile() first".into())
}

/// Mutable views of one layer's gradient tensors, at `ranges` within the layer's run of the arena.
fn split_grads<'a>(mut rest: &'a mut [f32], ranges: &[Range<usize>]) -> Vec<&'a mut [f32]> {
    let mut out = Vec::with_capacity(ranges.len());
    for r in ranges {
        let (head, tail) = std::mem::take(&mut rest).split_at_mut(r.len());
        out.push(head);
        rest = tail;
    }
    out
}
