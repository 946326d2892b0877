//! A sequential stack with one flat parameter arena: params, grads and optimizer state each live in one contiguous
//! buffer, and every layer reads named views of it. Each model owns its rayon pool.

use crate::config::{Activation, LayerConfig, LossConfig, LossKind, ModelConfig, OptimizerConfig};
use crate::data::{Batch, Data, DataRef};
use crate::error::{LstmError, Result};
use crate::init;
use crate::kernels::gemm::SMALL;
use crate::layers::{dense, dropout, embedding, lstm, pooling};
use crate::loss::{loss_forward_backward, TargetRef};
use crate::optim::{GradSource, LowRankGrad, Optimizer, StepRule, TensorUpdate};
use crate::rng::{self, CounterKey};
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

/// Per-layer state beyond the parameters: caches for backward and scratch.
enum LayerState {
    Embedding,
    Lstm(Vec<lstm::LstmCache>),
    Dense {
        z: Vec<f32>,
        skip_activation_backward: bool,
    },
    Dropout {
        mask: Vec<f32>,
    },
    /// `argmax` `[B,F]`: the step each maximum came from (max pooling only).
    Pooling {
        argmax: Vec<u32>,
    },
}

struct Layer {
    config: LayerConfig,
    /// Indices into `Model::entries`.
    entries: Range<usize>,
    state: LayerState,
}

/// The shape of an activation: `[b, t, f]` for sequences, `[b, f]` otherwise.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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
    layers: Vec<Layer>,
    entries: Vec<ParamEntry>,
    params: Vec<f32>,
    grads: Vec<f32>,
    compiled: Option<Compiled>,
    pool: rayon::ThreadPool,
    num_threads: usize,
    /// Training steps taken; keys the dropout masks.
    step: u64,
    // Activations of the last forward pass: acts[l] is layer l's output; masks[l] is the mask of layer l's input.
    acts: Vec<Vec<f32>>,
    dacts: Vec<Vec<f32>>,
    shapes: Vec<ActShape>,
    masks: Vec<Option<Vec<u8>>>,
    batch: Batch,
    /// LSTM states `(h, c)` `[B,H]` per layer, carried between `predict_step` calls.
    states: Vec<Option<(Vec<f32>, Vec<f32>)>>,
    /// When set, backward also computes dL/dx for a float input (the golden tests check it).
    pub compute_input_grad: bool,
    input_grad: Vec<f32>,
    /// Per entry: during this training step, the gradient is left as low-rank factors for the update to form on
    /// the fly (`optim::LowRankGrad`) instead of being stored in the arena.
    low_rank: Vec<bool>,
    /// This training step's update rule once backward has begun updating weights itself (`lstm::InlineUpdates`),
    /// and per entry whether it did.
    inline_step: Option<StepRule>,
    updated_inline: Vec<bool>,
}

impl Model {
    /// Builds a model; the weights are created now when the input's feature size is known (an embedding first, or
    /// `inputShape`), otherwise at the first data seen. `num_threads` 0 means one per core.
    pub fn new(config: ModelConfig, num_threads: usize) -> Result<Model> {
        Self::create(config, num_threads, true)
    }

    /// A model whose weights are about to be read from a file: the initializers are skipped (the orthogonal one
    /// alone costs about half a second for a 512-unit layer).
    pub(crate) fn new_for_load(config: ModelConfig, num_threads: usize) -> Result<Model> {
        Self::create(config, num_threads, false)
    }

    fn create(config: ModelConfig, num_threads: usize, initialize: bool) -> Result<Model> {
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
        let num_threads = if num_threads == 0 { std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1) } else { num_threads };
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(num_threads)
            .thread_name(|i| format!("lstm-native-{i}"))
            .build()
            .map_err(|e| LstmError::InvalidConfig(format!("cannot start {num_threads} threads: {e}")))?;
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
            compute_input_grad: false,
            input_grad: Vec::new(),
            low_rank: Vec::new(),
            inline_step: None,
            updated_inline: Vec::new(),
        };
        model.batch.tokens_wanted = matches!(model.config.layers[0], LayerConfig::Embedding(_));
        let known = match &model.config.layers[0] {
            LayerConfig::Embedding(_) => Some(0),
            _ => model.config.input_dim,
        };
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
    pub fn num_threads(&self) -> usize {
        self.num_threads
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
        Ok(Some(plan(&config.layers, in_features)?.2))
    }

    /// Creates the layers and the arena for a float input of `in_features` (ignored after an embedding).
    fn build(&mut self, in_features: usize) -> Result<()> {
        self.build_with(in_features, true)
    }

    fn build_with(&mut self, in_features: usize, initialize: bool) -> Result<()> {
        let (entries, layers, total) = plan(&self.config.layers, in_features)?;
        // Lay the arena out and initialise each tensor from its own seeded stream.
        let mut offset = 0;
        self.entries = entries
            .iter()
            .map(|(name, shape, _)| {
                let len: usize = shape.iter().product();
                let e = ParamEntry { name: name.clone(), shape: shape.clone(), range: offset..offset + len };
                offset += len;
                e
            })
            .collect();
        debug_assert_eq!(offset, total);
        self.params = zeroed(total)?;
        self.grads = zeroed(total)?;
        for (k, (_, shape, init_cfg)) in entries.iter().enumerate().filter(|_| initialize) {
            let mut r = rng::seeded(self.config.seed, k as u64, 0x1417);
            let (rows, cols) = (shape[0], shape.get(1).copied().unwrap_or(0));
            init::fill(init_cfg, rows, cols, &mut r, &mut self.params[self.entries[k].range.clone()]);
        }
        // Keras's unit_forget_bias: the forget gate starts at 1; PyTorch keeps it in bias_ih's f-block.
        for (li, layer) in layers.iter().enumerate() {
            if let LayerConfig::Lstm(c) = &layer.config {
                if c.unit_forget_bias && initialize {
                    for e in &self.entries[layer.entries.clone()] {
                        if e.name.starts_with(&format!("{li}.bias_ih")) {
                            let h = c.units;
                            self.params[e.range.start + h..e.range.start + 2 * h].fill(1.0);
                        }
                    }
                }
            }
        }
        let n = layers.len();
        self.layers = layers;
        self.acts = vec![Vec::new(); n];
        self.dacts = vec![Vec::new(); n];
        self.shapes = vec![ActShape { b: 0, t: None, f: 0 }; n];
        self.masks = vec![None; n];
        if !matches!(self.config.layers[0], LayerConfig::Embedding(_)) {
            self.config.input_dim = Some(in_features);
        }
        if let Some(c) = &mut self.compiled {
            c.optimizer = Optimizer::new(c.optimizer.config.clone(), self.params.len());
        }
        Ok(())
    }

    /// Sets the loss and optimizer (fresh optimizer state).
    pub fn compile(&mut self, loss: LossConfig, optimizer: OptimizerConfig) -> Result<()> {
        self.config.loss = Some(loss.clone());
        self.config.optimizer = Some(optimizer.clone());
        self.compiled = Some(Compiled { loss, optimizer: Optimizer::new(optimizer, self.params.len()) });
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
                shape = match cfg {
                    LayerConfig::Embedding(c) => ActShape { b, t, f: c.output_dim },
                    LayerConfig::Lstm(c) => {
                        ActShape { b, t: if c.return_sequences { shape.t } else { None }, f: c.units * if c.bidirectional { 2 } else { 1 } }
                    }
                    LayerConfig::Dense(c) => ActShape { f: c.units, ..shape },
                    LayerConfig::Dropout(_) => shape,
                    LayerConfig::GlobalAveragePooling1d(_) | LayerConfig::GlobalMaxPooling1d(_) => ActShape { t: None, ..shape },
                };
                shape
            })
            .collect()
    }

    /// Parameter count per layer.
    pub fn layer_param_counts(&self) -> Vec<usize> {
        self.layers.iter().map(|l| self.entries[l.entries.clone()].iter().map(|e| e.range.len()).sum()).collect()
    }

    // -----------------------------------------------------------------------------------------------------------
    // Data checks

    /// Checks x against the model (rank, feature size, token range, finiteness), building the model if needed.
    pub fn check_input(&mut self, x: &DataRef) -> Result<()> {
        let shape = x.shape();
        if shape.first().copied().unwrap_or(0) == 0 {
            return Err(LstmError::InvalidArgument(format!("empty dataset: x has shape {shape:?}")));
        }
        // The data must be exactly as long as its shape says: batches are gathered by row offsets from the shape.
        check_len("x", x)?;
        // A sequence of no steps has no last state and no mean loss.
        let is_sequence = shape.len() == 3 || (shape.len() == 2 && matches!(self.config.layers[0], LayerConfig::Embedding(_)));
        if is_sequence && shape[1] == 0 {
            return Err(LstmError::shape("x timesteps (second axis)", "at least 1", 0));
        }
        match &self.config.layers[0] {
            LayerConfig::Embedding(c) => {
                let tokens = match x {
                    Data::Tokens(t, _) => t,
                    Data::Floats(..) => {
                        return Err(LstmError::InvalidArgument("an embedding takes int32 token ids, but x is a float32 tensor; pass an Int32Array".into()))
                    }
                };
                if shape.len() != 2 {
                    return Err(LstmError::shape("x (token ids)", "[samples, timesteps]", shape));
                }
                let t = shape[1];
                if let Some((k, &id)) = tokens.iter().enumerate().find(|(_, &id)| id < 0 || id as usize >= c.input_dim) {
                    return Err(LstmError::IndexOutOfRange {
                        index: id as i64,
                        limit: c.input_dim,
                        position: format!("x[{}, {}] (embedding inputDim {})", k / t.max(1), k % t.max(1), c.input_dim),
                    });
                }
            }
            first => {
                let want_rank: &[usize] = if first.needs_sequence() { &[3] } else { &[2, 3] };
                if !want_rank.contains(&shape.len()) {
                    let expected = if want_rank == [3] { "[samples, timesteps, features]" } else { "[samples, features] or [samples, timesteps, features]" };
                    return Err(LstmError::shape("x", expected, shape));
                }
                let f = *shape.last().unwrap();
                if f == 0 {
                    return Err(LstmError::shape("x", "at least one feature", shape));
                }
                match self.config.input_dim {
                    Some(d) if self.is_built() && d != f => {
                        return Err(LstmError::shape("x features (last axis)", d, f));
                    }
                    _ => {}
                }
                if let Data::Floats(v, _) = x {
                    check_finite("x", v, shape)?;
                }
                if !self.is_built() {
                    self.build(f)?;
                }
            }
        }
        Ok(())
    }

    /// Checks y against x and the loss: sample count, shape, finiteness, label range.
    pub fn check_target(&self, x: &DataRef, y: &DataRef) -> Result<()> {
        let loss = self.loss()?;
        let (xs, ys) = (x.shape(), y.shape());
        check_len("y", y)?;
        if ys.first() != xs.first() {
            return Err(LstmError::shape("y samples (first axis), to match x", xs.first().copied().unwrap_or(0), ys.first().copied().unwrap_or(0)));
        }
        let n = xs[0];
        let t = if xs.len() >= 2 && !(xs.len() == 2 && !matches!(self.config.layers[0], LayerConfig::Embedding(_))) { Some(xs[1]) } else { None };
        let out = *self.layer_output_shapes(n, t).last().unwrap();
        let out_dims = out.dims();
        let y_len: usize = ys.iter().product();
        if let Data::Floats(v, _) = y {
            check_finite("y", v, ys)?;
        }
        if loss.kind == LossKind::SparseCategoricalCrossentropy {
            let rows = out.len() / out.f;
            if y_len != rows {
                let mut expected = out_dims.clone();
                expected.pop();
                return Err(LstmError::shape("y (class ids)", expected, ys));
            }
            for k in 0..y_len {
                let v = match y {
                    Data::Tokens(l, _) => l[k] as f64,
                    Data::Floats(f, _) => f[k] as f64,
                };
                if v.fract() != 0.0 {
                    return Err(LstmError::InvalidArgument(format!("class ids must be integers, got {v} at y[{k}]")));
                }
                if v < 0.0 || v >= out.f as f64 {
                    return Err(LstmError::IndexOutOfRange {
                        index: v as i64,
                        limit: out.f,
                        position: format!("y[{k}] (class id; the output has {} classes)", out.f),
                    });
                }
            }
        } else if y_len != out.len() {
            return Err(LstmError::shape("y, to match the model output", out_dims, ys));
        }
        Ok(())
    }

    fn loss(&self) -> Result<&LossConfig> {
        self.compiled
            .as_ref()
            .map(|c| &c.loss)
            .ok_or_else(|| LstmError::InvalidConfig("the model is not compiled: call compile() before fit, evaluate or trainOnBatch".into()))
    }

    // -----------------------------------------------------------------------------------------------------------
    // Forward and backward

    /// Runs every layer on the gathered batch. `training` turns dropout on.
    fn forward(&mut self, training: bool) -> Result<()> {
        let Model { layers, entries, params, acts, shapes, masks, batch, config, pool, step, .. } = self;
        let seed = config.seed;
        let step = *step;
        pool.install(|| -> Result<()> {
            let mut shape = batch.shape;
            let mut mask: Option<Vec<u8>> = None;
            for (l, layer) in layers.iter_mut().enumerate() {
                let (before, after) = acts.split_at_mut(l);
                let out = &mut after[0];
                let x: &[f32] = if l == 0 { &batch.floats } else { &before[l - 1] };
                let p = |k: usize| &params[entries[layer.entries.start + k].range.clone()];
                masks[l] = mask.clone();
                let in_mask = masks[l].as_deref();
                let rows = shape.b * shape.t.unwrap_or(1);
                let out_shape;
                match (&layer.config, &mut layer.state) {
                    (LayerConfig::Embedding(c), _) => {
                        out_shape = ActShape { f: c.output_dim, ..shape };
                        out.resize(out_shape.len(), 0.0);
                        embedding::embedding_forward(c.output_dim, p(0), &batch.tokens, out);
                        mask = if c.mask_zero { Some(batch.tokens.iter().map(|&id| (id != 0) as u8).collect()) } else { None };
                    }
                    (LayerConfig::Lstm(c), LayerState::Lstm(caches)) => {
                        let t = shape.t.ok_or_else(|| LstmError::shape(format!("input of layer {l} (lstm)"), "[batch, timesteps, features]", shape.dims()))?;
                        let h = c.units;
                        let dims = lstm::LstmDims { b: shape.b, t, i: shape.f, h };
                        let dirs = caches.len();
                        out_shape = ActShape { b: shape.b, t: if c.return_sequences { Some(t) } else { None }, f: h * dirs };
                        out.resize(out_shape.len(), 0.0);
                        // Inference of the final state only: nothing kept for backward, the gates stay in L2.
                        let final_only = !training && !c.return_sequences && lstm::final_only_available(shape.b) && caches.iter().all(|c| c.init_h.is_empty());
                        // With recurrent dropout Keras draws the masks per gate (see `lstm`): 4 copies each.
                        let copies = if per_gate_masks(c) { 4 } else { 1 };
                        for (d, cache) in caches.iter_mut().enumerate() {
                            let (s_in, s_rec) = if d == 0 {
                                (rng::STREAM_LSTM_INPUT, rng::STREAM_LSTM_RECURRENT)
                            } else {
                                (rng::STREAM_LSTM_INPUT_REVERSE, rng::STREAM_LSTM_RECURRENT_REVERSE)
                            };
                            set_mask(&mut cache.in_mask, training, c.dropout, CounterKey::new(seed, rng::stream(l, s_in), step), copies * shape.b * shape.f);
                            set_mask(
                                &mut cache.rec_mask,
                                training,
                                c.recurrent_dropout,
                                CounterKey::new(seed, rng::stream(l, s_rec), step),
                                copies * shape.b * h,
                            );
                            let lp = lstm::LstmParams { w_ih: p(4 * d), w_hh: p(4 * d + 1), b_ih: p(4 * d + 2), b_hh: p(4 * d + 3) };
                            if final_only {
                                lstm::lstm_forward_final(dims, d == 1, x, in_mask, lp, cache, out, h * dirs, d * h);
                            } else {
                                lstm::lstm_forward(dims, d == 1, x, in_mask, lp, cache);
                            }
                        }
                        if !final_only {
                            assemble_lstm_output(shape.b, t, h, c.return_sequences, caches, in_mask, out);
                        }
                        if !c.return_sequences {
                            mask = None;
                        }
                    }
                    (LayerConfig::Dense(c), LayerState::Dense { z, .. }) => {
                        out_shape = ActShape { f: c.units, ..shape };
                        z.resize(out_shape.len(), 0.0);
                        out.resize(out_shape.len(), 0.0);
                        dense::dense_forward(rows, shape.f, c.units, c.activation, p(0), p(1), x, z, out);
                    }
                    (LayerConfig::GlobalAveragePooling1d(_), _) => {
                        let t = pooled_steps(l, shape)?;
                        out_shape = ActShape { t: None, ..shape };
                        out.resize(out_shape.len(), 0.0);
                        pooling::global_average_pooling_forward(shape.b, t, shape.f, x, in_mask, out);
                        mask = None;
                    }
                    (LayerConfig::GlobalMaxPooling1d(_), LayerState::Pooling { argmax }) => {
                        let t = pooled_steps(l, shape)?;
                        out_shape = ActShape { t: None, ..shape };
                        out.resize(out_shape.len(), 0.0);
                        argmax.resize(out_shape.len(), 0);
                        pooling::global_max_pooling_forward(shape.b, t, shape.f, x, argmax, out);
                        mask = None;
                    }
                    (LayerConfig::Dropout(c), LayerState::Dropout { mask: m }) => {
                        out_shape = shape;
                        out.resize(out_shape.len(), 0.0);
                        if training && c.rate > 0.0 {
                            m.resize(out_shape.len(), 0.0);
                            dropout::dropout_forward(CounterKey::new(seed, rng::stream(l, rng::STREAM_DROPOUT), step), c.rate, x, m, out);
                        } else {
                            m.clear();
                            out.copy_from_slice(&x[..out_shape.len()]);
                        }
                    }
                    _ => unreachable!("layer state always matches its config"),
                }
                shapes[l] = out_shape;
                shape = out_shape;
            }
            Ok(())
        })
    }

    /// Backward through every layer; `dacts[last]` already holds dL/d(output). Accumulates into `grads`.
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
        let need_x_grad = *compute_input_grad && !batch.floats.is_empty();
        pool.install(|| {
            for l in (0..layers.len()).rev() {
                let layer = &mut layers[l];
                let in_shape = if l == 0 { batch.shape } else { shapes[l - 1] };
                let rows = in_shape.b * in_shape.t.unwrap_or(1);
                let (dbefore, dafter) = dacts.split_at_mut(l);
                let dy = &mut dafter[0];
                let x: &[f32] = if l == 0 { &batch.floats } else { &acts[l - 1] };
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
                let ents = &entries[layer.entries.clone()];
                let p = |k: usize| &params[ents[k].range.clone()];
                let mut g = split_grads(grads, ents);
                for (k, g) in g.iter_mut().enumerate() {
                    if low_rank.get(layer.entries.start + k) == Some(&true) {
                        *g = None;
                    }
                }
                match (&layer.config, &mut layer.state) {
                    (LayerConfig::Embedding(c), _) => embedding::embedding_backward(c.output_dim, &batch.tokens, dy, g[0].as_mut().unwrap()),
                    (LayerConfig::Lstm(c), LayerState::Lstm(caches)) => {
                        let t = in_shape.t.unwrap_or(0);
                        let h = c.units;
                        let dims = lstm::LstmDims { b: in_shape.b, t, i: in_shape.f, h };
                        let dirs = caches.len();
                        let mut dx = dx;
                        if let Some(dx) = dx.as_deref_mut() {
                            dx.fill(0.0);
                        }
                        for (d, cache) in caches.iter_mut().enumerate() {
                            let dout = if c.return_sequences {
                                lstm::OutputGrad::Sequence { dy, features: h * dirs, offset: d * h, zero_masked: dirs == 2 }
                            } else {
                                lstm::OutputGrad::Last { dy, features: h * dirs, offset: d * h }
                            };
                            // W_ih and W_hh whose gradients are left low-rank are updated by backward itself where it can
                            // (their last product), so the update does not read them again.
                            let e0 = layer.entries.start + 4 * d;
                            let (can_hh, can_ih) = lstm::inline_updates_possible(dims, d == 1, masks[l].as_deref(), cache, dx.is_some());
                            let planned = |e: usize| low_rank.get(e) == Some(&true);
                            let (inline_ih, inline_hh) = (can_ih && planned(e0), can_hh && planned(e0 + 1));
                            let (w_ih, rest) = params[entries[e0].range.start..entries[e0 + 3].range.end].split_at_mut(entries[e0].range.len());
                            let (w_hh, rest) = rest.split_at_mut(entries[e0 + 1].range.len());
                            let (b_ih, b_hh) = rest.split_at(entries[e0 + 2].range.len());
                            let (mut update_ih, mut update_hh) = (None, None);
                            if inline_ih || inline_hh {
                                let opt = &mut compiled.as_mut().expect("low-rank gradients need a compiled model").optimizer;
                                let rule = *inline_step.get_or_insert_with(|| opt.begin_step());
                                let [u_ih, u_hh] = opt.tensor_updates(rule, [entries[e0].range.clone(), entries[e0 + 1].range.clone()]);
                                (update_ih, update_hh) = (inline_ih.then_some(u_ih), inline_hh.then_some(u_hh));
                                updated_inline[e0] = inline_ih;
                                updated_inline[e0 + 1] = inline_hh;
                            }
                            let (w_ih, inline_w_ih) = read_or_update(w_ih, update_ih);
                            let (w_hh, inline_w_hh) = read_or_update(w_hh, update_hh);
                            let lp = lstm::LstmParams { w_ih, w_hh, b_ih, b_hh };
                            let (a, rest) = g[4 * d..4 * d + 4].split_at_mut(1);
                            let (b_, rest) = rest.split_at_mut(1);
                            let (c_, d_) = rest.split_at_mut(1);
                            let lg = lstm::LstmGrads {
                                dw_ih: a[0].as_deref_mut(),
                                dw_hh: b_[0].as_deref_mut(),
                                db_ih: c_[0].as_mut().unwrap(),
                                db_hh: d_[0].as_mut().unwrap(),
                            };
                            let inline = lstm::InlineUpdates { w_hh: inline_w_hh, w_ih: inline_w_ih };
                            lstm::lstm_backward(dims, d == 1, x, masks[l].as_deref(), lp, cache, dout, lg, dx.as_deref_mut(), Some(inline));
                        }
                    }
                    (LayerConfig::Dense(c), LayerState::Dense { skip_activation_backward, .. }) => {
                        if !*skip_activation_backward {
                            dense::activation_backward(c.activation, c.units, &acts[l], dy);
                        }
                        let (w, b) = g.split_at_mut(1);
                        dense::dense_backward(rows, in_shape.f, c.units, p(0), x, dy, w[0].as_deref_mut(), b[0].as_mut().unwrap(), dx);
                    }
                    (LayerConfig::GlobalAveragePooling1d(_), _) => {
                        if let Some(dx) = dx {
                            pooling::global_average_pooling_backward(in_shape.b, in_shape.t.unwrap_or(0), in_shape.f, masks[l].as_deref(), dy, dx);
                        }
                    }
                    (LayerConfig::GlobalMaxPooling1d(_), LayerState::Pooling { argmax }) => {
                        if let Some(dx) = dx {
                            pooling::global_max_pooling_backward(in_shape.b, in_shape.t.unwrap_or(0), in_shape.f, argmax, dy, dx);
                        }
                    }
                    (LayerConfig::Dropout(_), LayerState::Dropout { mask }) => {
                        if let Some(dx) = dx {
                            if mask.is_empty() {
                                dx.copy_from_slice(dy);
                            } else {
                                dropout::dropout_backward(mask, dy, dx);
                            }
                        }
                    }
                    _ => unreachable!("layer state always matches its config"),
                }
            }
        });
    }

    /// Loss of the current output against the batch targets; writes dL/d(output) when `with_grad`.
    fn compute_loss(&mut self, with_grad: bool) -> Result<(f64, usize, usize)> {
        let loss = self.loss()?.clone();
        let last = self.layers.len() - 1;
        let (act, z): (Activation, &[f32]) = match (&self.layers[last].config, &self.layers[last].state) {
            (LayerConfig::Dense(c), LayerState::Dense { z, .. }) => (c.activation, z),
            _ => (Activation::Linear, &self.acts[last]),
        };
        let out = &self.acts[last];
        let width = self.shapes[last].f;
        let target = TargetRef::Floats(&self.batch.y);
        let dout = if with_grad {
            self.dacts[last].resize(out.len(), 0.0);
            Some(self.dacts[last].as_mut_slice())
        } else {
            None
        };
        let r = loss_forward_backward(&loss, out, z, act, width, target, dout)?;
        if let LayerState::Dense { skip_activation_backward, .. } = &mut self.layers[last].state {
            *skip_activation_backward = r.grad_wrt_logits;
        }
        Ok((r.loss, r.correct, r.counted))
    }

    // -----------------------------------------------------------------------------------------------------------
    // Public steps

    /// Forward, loss and backward on one batch, adding into the gradients (call `zero_grad` first).
    pub fn forward_backward(&mut self, x: &DataRef, y: &DataRef) -> Result<Stats> {
        self.check_input(x)?;
        self.check_target(x, y)?;
        self.batch.gather(x, Some(y), None);
        self.forward(true)?;
        let (loss, correct, counted) = self.compute_loss(true)?;
        self.backward();
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
        Ok(())
    }

    /// `zero_grad`, forward, backward and one update, on a whole batch.
    pub fn train_step(&mut self, x: &DataRef, y: &DataRef) -> Result<Stats> {
        self.loss()?;
        self.check_input(x)?;
        self.check_target(x, y)?;
        self.batch.gather(x, Some(y), None);
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
        self.batch.gather(x, Some(y), Some(rows));
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

    /// Marks the weights whose gradients this step leaves as factors: LSTM and Dense weights fed by at most
    /// `SMALL` rows, when the optimizer needs no whole gradient (no clipping).
    fn plan_low_rank(&mut self) {
        self.low_rank.clear();
        self.low_rank.resize(self.entries.len(), false);
        if !self.compiled.as_ref().is_some_and(|c| c.optimizer.can_fuse()) {
            return;
        }
        for (l, layer) in self.layers.iter().enumerate() {
            let in_shape = if l == 0 { self.batch.shape } else { self.shapes[l - 1] };
            if in_shape.b * in_shape.t.unwrap_or(1) > SMALL {
                continue;
            }
            let e0 = layer.entries.start;
            match &layer.state {
                // Per-gate masks give each gate's rows their own factors: those gradients are formed in backward.
                LayerState::Lstm(_) if matches!(&layer.config, LayerConfig::Lstm(c) if per_gate_masks(c)) => {}
                LayerState::Lstm(caches) => {
                    for d in 0..caches.len() {
                        self.low_rank[e0 + 4 * d] = true;
                        self.low_rank[e0 + 4 * d + 1] = true;
                    }
                }
                LayerState::Dense { .. } => self.low_rank[e0] = true,
                _ => {}
            }
        }
    }

    /// The update, with the planned low-rank gradients formed from what backward left in the caches.
    fn apply_low_rank(&mut self) -> Result<()> {
        if !self.low_rank.iter().any(|&f| f) {
            return self.apply_gradients();
        }
        let Model { compiled, params, grads, pool, entries, layers, acts, dacts, shapes, batch, low_rank, inline_step, updated_inline, .. } = self;
        let c = compiled.as_mut().ok_or_else(not_compiled)?;
        let ranges: Vec<Range<usize>> = entries.iter().map(|e| e.range.clone()).collect();
        let mut sources: Vec<GradSource> = entries.iter().map(|e| GradSource::Stored(&grads[e.range.clone()])).collect();
        for (l, layer) in layers.iter().enumerate() {
            let e0 = layer.entries.start;
            if !low_rank.get(e0).copied().unwrap_or(false) {
                continue;
            }
            let in_shape = if l == 0 { batch.shape } else { shapes[l - 1] };
            let (k, i) = (in_shape.b * in_shape.t.unwrap_or(1), in_shape.f);
            let x: &[f32] = if l == 0 { &batch.floats } else { &acts[l - 1] };
            match (&layer.config, &layer.state) {
                (LayerConfig::Lstm(cfg), LayerState::Lstm(caches)) => {
                    let (h, g4) = (cfg.units, 4 * cfg.units);
                    for (d, cache) in caches.iter().enumerate() {
                        // dW_ih = dgatesᵀ·x (after the input mask), dW_hh = dgatesᵀ·hprev, over the k rows.
                        let xin: &[f32] = if cache.in_mask.is_empty() { x } else { &cache.xm };
                        sources[e0 + 4 * d] = GradSource::LowRank(LowRankGrad { k, n: i, g: &cache.dgates, ldg: g4, x: xin, ldx: i });
                        sources[e0 + 4 * d + 1] = GradSource::LowRank(LowRankGrad { k, n: h, g: &cache.dgates, ldg: g4, x: &cache.hprev, ldx: h });
                    }
                }
                (LayerConfig::Dense(cfg), _) => {
                    // dW = dzᵀ·x; backward left dz in dacts[l].
                    sources[e0] = GradSource::LowRank(LowRankGrad { k, n: i, g: &dacts[l], ldg: cfg.units, x, ldx: i });
                }
                _ => {}
            }
        }
        // Weights that backward updated itself are done.
        for (source, _) in sources.iter_mut().zip(updated_inline.iter()).filter(|(_, done)| **done) {
            *source = GradSource::Applied;
        }
        match inline_step.take() {
            Some(rule) => pool.install(|| c.optimizer.finish_step(rule, params, &ranges, &sources)),
            None => pool.install(|| c.optimizer.apply_fused(params, &ranges, &sources)),
        }
        self.step += 1;
        Ok(())
    }

    /// Checks a whole dataset once, so that the batches drawn from it need no checks.
    pub fn check_dataset(&mut self, x: &DataRef, y: &DataRef) -> Result<()> {
        self.check_input(x)?;
        self.check_target(x, y)
    }

    /// Stateful inference (Keras's `stateful=True`): runs `x` (usually one step, `[B,1]` tokens or `[B,1,F]`)
    /// starting from the LSTM states the previous call left, and keeps the new ones. Text generation steps one word
    /// at a time this way instead of re-running the whole prefix. A different batch size starts from zeros.
    pub fn predict_step(&mut self, x: &DataRef) -> Result<(Vec<f32>, Vec<usize>)> {
        self.check_input(x)?;
        if self.config.layers.iter().any(|l| matches!(l, LayerConfig::Lstm(c) if c.bidirectional)) {
            return Err(LstmError::InvalidArgument(
                "predictStep cannot carry state through a bidirectional LSTM (its backward pass needs the whole sequence)".into(),
            ));
        }
        self.batch.gather(x, None, None);
        let b = self.batch.shape.b;
        if self.states.len() != self.layers.len() || self.states.iter().flatten().any(|(h, _)| h.len() % b != 0 || h.is_empty()) {
            self.states = vec![None; self.layers.len()];
        }
        for (l, layer) in self.layers.iter_mut().enumerate() {
            if let (LayerState::Lstm(caches), LayerConfig::Lstm(c)) = (&mut layer.state, &layer.config) {
                let (h, cst) = match &self.states[l] {
                    Some((h, cs)) if h.len() == b * c.units => (h.clone(), cs.clone()),
                    _ => (vec![0.0; b * c.units], vec![0.0; b * c.units]),
                };
                caches[0].init_h = h;
                caches[0].init_c = cst;
            }
        }
        let result = self.forward(false);
        // Keep the final states and clear the initial ones, so training and `predict` start from zeros again.
        for (l, layer) in self.layers.iter_mut().enumerate() {
            if let (LayerState::Lstm(caches), LayerConfig::Lstm(c)) = (&mut layer.state, &layer.config) {
                let cache = &mut caches[0];
                let (hu, t) = (c.units, self.batch.shape.t.unwrap_or(1));
                let mut h = vec![0.0; b * hu];
                let mut cs = vec![0.0; b * hu];
                if result.is_ok() {
                    for bi in 0..b {
                        let row = (bi * t + t - 1) * hu;
                        h[bi * hu..(bi + 1) * hu].copy_from_slice(&cache.h[row..row + hu]);
                        cs[bi * hu..(bi + 1) * hu].copy_from_slice(&cache.c[row..row + hu]);
                    }
                }
                cache.init_h.clear();
                cache.init_c.clear();
                self.states[l] = Some((h, cs));
            }
        }
        result?;
        let last = self.layers.len() - 1;
        Ok((self.acts[last].clone(), self.shapes[last].dims()))
    }

    /// Forgets the states kept by [`Model::predict_step`].
    pub fn reset_states(&mut self) {
        self.states.clear();
    }

    /// Inference over `x` in batches; returns the output and its shape.
    pub fn predict(&mut self, x: &DataRef, batch_size: usize) -> Result<(Vec<f32>, Vec<usize>)> {
        check_batch_size(batch_size)?;
        self.check_input(x)?;
        let n = x.shape()[0];
        let mut out = Vec::new();
        let mut shape = Vec::new();
        for start in (0..n).step_by(batch_size) {
            let rows: Vec<usize> = (start..(start + batch_size).min(n)).collect();
            self.batch.gather(x, None, Some(&rows));
            self.forward(false)?;
            let last = self.layers.len() - 1;
            if out.is_empty() {
                shape = self.shapes[last].dims();
                out.reserve(n * self.acts[last].len() / rows.len());
            }
            out.extend_from_slice(&self.acts[last]);
        }
        shape[0] = n;
        Ok((out, shape))
    }

    /// Mean loss and accuracy over `x`, `y` in batches (weighted by batch size), in inference mode.
    pub fn evaluate(&mut self, x: &DataRef, y: &DataRef, batch_size: usize) -> Result<Stats> {
        check_batch_size(batch_size)?;
        self.check_dataset(x, y)?;
        self.evaluate_checked(x, y, batch_size)
    }

    /// [`Model::evaluate`] on data already checked.
    pub fn evaluate_checked(&mut self, x: &DataRef, y: &DataRef, batch_size: usize) -> Result<Stats> {
        let n = x.shape()[0];
        let (mut loss_sum, mut correct, mut counted) = (0.0f64, 0usize, 0usize);
        for start in (0..n).step_by(batch_size) {
            let rows: Vec<usize> = (start..(start + batch_size).min(n)).collect();
            self.batch.gather(x, Some(y), Some(&rows));
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
        let e = self.entries.iter().find(|e| e.name == name).ok_or_else(|| {
            let known: Vec<&str> = self.entries.iter().map(|e| e.name.as_str()).collect();
            LstmError::InvalidArgument(format!("no weight named {name:?}; this model has {known:?}"))
        })?;
        if shape != e.shape.as_slice() || data.len() != e.range.len() {
            return Err(LstmError::shape(format!("weight {name}"), &e.shape, shape));
        }
        check_finite(name, data, shape)?;
        self.params[e.range.clone()].copy_from_slice(data);
        Ok(())
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
    pub fn epoch_order(&self, n: usize, epoch: u64) -> Vec<usize> {
        use rand::seq::SliceRandom;
        let mut order: Vec<usize> = (0..n).collect();
        order.shuffle(&mut rng::seeded(self.config.seed, SHUFFLE_STREAM, epoch));
        order
    }
}

/// Separates the shuffling stream from the initializers'.
const SHUFFLE_STREAM: u64 = 0x5348_5546_464c_45;

fn check_batch_size(batch_size: usize) -> Result<()> {
    if batch_size == 0 {
        return Err(LstmError::InvalidArgument("batchSize must be at least 1, got 0".into()));
    }
    Ok(())
}

/// The data's length must be the product of its shape (computed without overflow) → else `ShapeMismatch`.
fn check_len(what: &str, d: &DataRef) -> Result<()> {
    let shape = d.shape();
    match shape.iter().try_fold(1usize, |a, &s| a.checked_mul(s)) {
        Some(n) if n == d.len() => Ok(()),
        Some(n) => Err(LstmError::shape(format!("{what} data length for its shape {shape:?}"), n, d.len())),
        None => Err(LstmError::shape(format!("{what} shape"), "a shape whose element count fits in memory", shape)),
    }
}

/// NaN or Inf anywhere → `NonFinite`, naming the first position.
pub fn check_finite(what: &str, v: &[f32], shape: &[usize]) -> Result<()> {
    if let Some((k, &value)) = v.iter().enumerate().find(|(_, x)| !x.is_finite()) {
        return Err(LstmError::NonFinite { what: what.into(), value, position: format!("{what}{:?}", unravel(k, shape)) });
    }
    Ok(())
}

fn unravel(mut k: usize, shape: &[usize]) -> Vec<usize> {
    let mut idx = vec![0; shape.len()];
    for (d, &s) in shape.iter().enumerate().rev() {
        if s > 0 {
            idx[d] = k % s;
            k /= s;
        }
    }
    idx
}

/// Whether an LSTM draws its dropout masks per gate in training: with recurrent dropout, as Keras 3 (whose cell then
/// runs its `implementation=1`, four input and four recurrent masks); otherwise the gates share one input mask.
fn per_gate_masks(c: &crate::config::LstmConfig) -> bool {
    c.recurrent_dropout > 0.0
}

fn set_mask(mask: &mut Vec<f32>, training: bool, rate: f32, key: CounterKey, len: usize) {
    if training && rate > 0.0 {
        mask.resize(len, 0.0);
        key.dropout_mask(rate, mask);
    } else {
        mask.clear();
    }
}

/// Copies the LSTM's states into its output: the whole sequence or the final state, directions concatenated.
/// In a bidirectional layer that returns sequences, masked steps output zeros (Keras).
fn assemble_lstm_output(b: usize, t: usize, h: usize, seq: bool, caches: &[lstm::LstmCache], mask: Option<&[u8]>, out: &mut [f32]) {
    let dirs = caches.len();
    let f = h * dirs;
    for (d, cache) in caches.iter().enumerate() {
        for bi in 0..b {
            if seq {
                for tt in 0..t {
                    let dst = &mut out[(bi * t + tt) * f + d * h..][..h];
                    if dirs == 2 && mask.is_some_and(|m| m[bi * t + tt] == 0) {
                        dst.fill(0.0);
                    } else {
                        dst.copy_from_slice(&cache.h[(bi * t + tt) * h..][..h]);
                    }
                }
            } else {
                // The final state: after t = T-1 forward, after t = 0 reversed.
                let tt = if d == 0 { t - 1 } else { 0 };
                out[bi * f + d * h..][..h].copy_from_slice(&cache.h[(bi * t + tt) * h..][..h]);
            }
        }
    }
}

type EntryPlan = (String, Vec<usize>, crate::config::Initializer);

/// The parameter tensors (name, shape, initializer) and layers of a stack on `in_features` input features, and the
/// total parameter count. Sizes come from user configs and files, so the arithmetic is checked: an overflow, or a
/// model whose params, grads and two optimizer slots could not be addressed, is `InvalidConfig` rather than a wrapped
/// size (release builds) or an allocation abort.
fn plan(configs: &[LayerConfig], in_features: usize) -> Result<(Vec<EntryPlan>, Vec<Layer>, usize)> {
    let too_big = |li: usize| LstmError::InvalidConfig(format!("layer {li}: the parameter count overflows; the sizes are too large"));
    let mut f = in_features;
    let mut is_seq = match &configs[0] {
        LayerConfig::Embedding(_) => true,
        l => l.input_shape().map(|s| s.len() == 2).unwrap_or(true),
    };
    let mut entries: Vec<EntryPlan> = Vec::new();
    let mut layers = Vec::new();
    let mut total = 0usize;
    for (li, cfg) in configs.iter().enumerate() {
        let first = entries.len();
        let mut add = |name: &str, shape: Vec<usize>, init: &crate::config::Initializer| -> Result<()> {
            let len = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).ok_or_else(|| too_big(li))?;
            total = total.checked_add(len).ok_or_else(|| too_big(li))?;
            entries.push((format!("{li}.{name}"), shape, init.clone()));
            Ok(())
        };
        let (out, state) = match cfg {
            LayerConfig::Embedding(c) => {
                add("weight", vec![c.input_dim, c.output_dim], &c.embeddings_initializer)?;
                (c.output_dim, LayerState::Embedding)
            }
            LayerConfig::Lstm(c) => {
                if !is_seq {
                    return Err(LstmError::InvalidConfig(format!(
                        "layer {li} (lstm) needs a sequence input [B, T, F], but the layer before it outputs [B, F]"
                    )));
                }
                let h = c.units;
                let g4 = h.checked_mul(4).ok_or_else(|| too_big(li))?;
                let dirs = if c.bidirectional { 2 } else { 1 };
                for d in 0..dirs {
                    let sfx = if d == 1 { "_reverse" } else { "" };
                    add(&format!("weight_ih{sfx}"), vec![g4, f], &c.kernel_initializer)?;
                    add(&format!("weight_hh{sfx}"), vec![g4, h], &c.recurrent_initializer)?;
                    add(&format!("bias_ih{sfx}"), vec![g4], &c.bias_initializer)?;
                    add(&format!("bias_hh{sfx}"), vec![g4], &c.bias_initializer)?;
                }
                is_seq = c.return_sequences;
                (h.checked_mul(dirs).ok_or_else(|| too_big(li))?, LayerState::Lstm((0..dirs).map(|_| lstm::LstmCache::default()).collect()))
            }
            LayerConfig::Dense(c) => {
                add("weight", vec![c.units, f], &c.kernel_initializer)?;
                add("bias", vec![c.units], &c.bias_initializer)?;
                (c.units, LayerState::Dense { z: Vec::new(), skip_activation_backward: false })
            }
            LayerConfig::Dropout(_) => (f, LayerState::Dropout { mask: Vec::new() }),
            LayerConfig::GlobalAveragePooling1d(_) | LayerConfig::GlobalMaxPooling1d(_) => {
                if !is_seq {
                    return Err(LstmError::InvalidConfig(format!(
                        "layer {li} ({}) pools over time and needs a sequence input [B, T, F], but the layer before it outputs [B, F]; give the LSTM returnSequences: true",
                        cfg.kind()
                    )));
                }
                is_seq = false;
                (f, LayerState::Pooling { argmax: Vec::new() })
            }
        };
        layers.push(Layer { config: cfg.clone(), entries: first..entries.len(), state });
        f = out;
    }
    // params, grads and two optimizer slots of f32 must stay addressable.
    if total.checked_mul(16).is_none_or(|bytes| bytes > isize::MAX as usize) {
        return Err(LstmError::InvalidConfig(format!("the model would have {total} parameters, far more than memory can hold")));
    }
    Ok((entries, layers, total))
}

/// The number of steps a pooling layer at index `l` reads (the plan made sure its input is a sequence).
fn pooled_steps(l: usize, shape: ActShape) -> Result<usize> {
    shape.t.ok_or_else(|| LstmError::shape(format!("input of layer {l} (global pooling)"), "[batch, timesteps, features]", shape.dims()))
}

/// A weight updated inline is read through its update (`lstm::InlineUpdates`), and the plain parameters
/// (`lstm::LstmParams`) get an empty slice in its place; otherwise they read it.
fn read_or_update<'a>(w: &'a mut [f32], update: Option<TensorUpdate<'a>>) -> (&'a [f32], Option<lstm::InlineWeight<'a>>) {
    match update {
        Some(u) => (&[], Some((w, u))),
        None => (w, None),
    }
}

fn not_compiled() -> LstmError {
    LstmError::InvalidConfig("the model is not compiled: call compile() first".into())
}

/// A zeroed buffer of `len` floats, or `InvalidConfig` when it cannot be allocated (instead of aborting the process).
fn zeroed(len: usize) -> Result<Vec<f32>> {
    let mut v = Vec::new();
    v.try_reserve_exact(len).map_err(|_| LstmError::InvalidConfig(format!("cannot allocate {len} parameters ({} bytes)", len.saturating_mul(4))))?;
    v.resize(len, 0.0);
    Ok(v)
}

/// Mutable views of one layer's gradient tensors (which are contiguous in the arena).
fn split_grads<'a>(grads: &'a mut [f32], ents: &[ParamEntry]) -> Vec<Option<&'a mut [f32]>> {
    let Some(first) = ents.first() else {
        return Vec::new();
    };
    let end = ents.last().unwrap().range.end;
    let mut rest = &mut grads[first.range.start..end];
    let mut out = Vec::with_capacity(ents.len());
    for e in ents {
        let (head, tail) = rest.split_at_mut(e.range.len());
        out.push(Some(head));
        rest = tail;
    }
    out
}
