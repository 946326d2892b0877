//! A reference Sequential model: the layers of a [`ModelConfig`] chained from their reference implementations, on
//! named float64 parameters (PyTorch names `{layer}.{name}`, as `Model::entries`). Forward in inference or training
//! mode (training draws the dropout masks the crate draws at the given step), the loss, backward to every parameter
//! and to a float input, and stateful inference from given recurrent states.

use super::conv1d::{self, ConvShape};
use super::gru::{self, GruTrace};
use super::lstm::{self, LstmTrace};
use super::recurrent::{RecurrentMasks, RecurrentWeights};
use super::simple_rnn::{self, RnnTrace};
use super::{dense, dropout, embedding, loss, max_pooling1d, pooling, to_f64};
use crate::config::{Activation, LayerConfig, ModelConfig};
use crate::model::Model;
use crate::rng;
use ndarray::{Array1, Array2, Array3, ArrayD, Axis, Ix1, Ix2, Ix3, IxDyn};
use std::collections::BTreeMap;

/// A model input: token ids `[B,T]` (an embedding first), or floats `[B,T,F]` / `[B,F]`.
#[derive(Clone, Debug)]
pub enum Input {
    Tokens(Array2<i32>),
    Floats(ArrayD<f64>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Inference,
    /// Dropout on, with the masks of training step `step` (`Model::step`).
    Training {
        step: u64,
    },
}

/// The recurrent state of each layer, `[B,H]` arrays: an LSTM's (h, c), a GRU's or SimpleRNN's h (`None` for
/// other layers and for a zero start).
pub type States = Vec<Option<Vec<Array2<f64>>>>;

/// What a layer's forward keeps for its backward.
enum Cache {
    None,
    Dense { z: ArrayD<f64> },
    Dropout { mask: Option<ArrayD<f64>> },
    Lstm { traces: Vec<LstmTrace> },
    Gru { traces: Vec<GruTrace> },
    Rnn { traces: Vec<RnnTrace> },
    Conv1d { shape: ConvShape },
    MaxPool { argmax: Array2<usize> },
    MaxPool1d { argmax: Array3<usize> },
}

/// The options every recurrent kind shares.
struct RecurrentOptions {
    return_sequences: bool,
    dirs: usize,
    units: usize,
    dropout: f32,
    recurrent_dropout: f32,
    /// Gate blocks: LSTM 4, GRU 3, SimpleRNN 1.
    gates: usize,
}

impl RecurrentOptions {
    fn of(cfg: &LayerConfig) -> Option<Self> {
        let (units, return_sequences, bidirectional, dropout, recurrent_dropout, gates) = match cfg {
            LayerConfig::Lstm(c) => (c.units, c.return_sequences, c.bidirectional, c.dropout, c.recurrent_dropout, 4),
            LayerConfig::Gru(c) => (c.units, c.return_sequences, c.bidirectional, c.dropout, c.recurrent_dropout, 3),
            LayerConfig::SimpleRnn(c) => (c.units, c.return_sequences, c.bidirectional, c.dropout, c.recurrent_dropout, 1),
            _ => return None,
        };
        Some(RecurrentOptions { return_sequences, dirs: if bidirectional { 2 } else { 1 }, units, dropout, recurrent_dropout, gates })
    }
}

/// A forward pass: every layer's output (`acts[l]`), the mask each layer read, and the final recurrent states.
pub struct Forward {
    pub acts: Vec<ArrayD<f64>>,
    masks: Vec<Option<Array2<bool>>>,
    caches: Vec<Cache>,
    pub states: States,
}

impl Forward {
    pub fn output(&self) -> &ArrayD<f64> {
        self.acts.last().expect("at least one layer")
    }
}

/// The loss and the gradients of every parameter (by name) and of a float input.
pub struct Gradients {
    pub loss: f64,
    pub grads: BTreeMap<String, ArrayD<f64>>,
    pub input: Option<ArrayD<f64>>,
}

pub struct Sequential {
    pub config: ModelConfig,
    pub params: BTreeMap<String, ArrayD<f64>>,
}

impl Sequential {
    pub fn new(config: ModelConfig, params: BTreeMap<String, ArrayD<f64>>) -> Self {
        Sequential { config, params }
    }

    /// The reference of a built `Model`: its configuration and its current parameters, as f64.
    pub fn from_model(model: &Model) -> Self {
        let params = model
            .entries()
            .iter()
            .map(|e| {
                let (data, shape) = model.get_weight(&e.name).expect("an entry has a weight");
                (e.name.clone(), to_f64(data, shape))
            })
            .collect();
        Sequential { config: model.config().clone(), params }
    }

    fn p(&self, l: usize, name: &str) -> &ArrayD<f64> {
        self.params.get(&format!("{l}.{name}")).unwrap_or_else(|| panic!("no parameter {l}.{name}"))
    }

    fn p2(&self, l: usize, name: &str) -> Array2<f64> {
        self.p(l, name).clone().into_dimensionality::<Ix2>().expect("a matrix")
    }

    fn p1(&self, l: usize, name: &str) -> Array1<f64> {
        self.p(l, name).clone().into_dimensionality::<Ix1>().expect("a vector")
    }

    fn p3(&self, l: usize, name: &str) -> Array3<f64> {
        self.p(l, name).clone().into_dimensionality::<Ix3>().expect("a 3-D tensor")
    }

    fn recurrent_weights(&self, l: usize, dirs: usize) -> Vec<RecurrentWeights> {
        (0..dirs)
            .map(|d| {
                let sfx = if d == 1 { "_reverse" } else { "" };
                RecurrentWeights {
                    w_ih: self.p2(l, &format!("weight_ih{sfx}")),
                    w_hh: self.p2(l, &format!("weight_hh{sfx}")),
                    b_ih: self.p1(l, &format!("bias_ih{sfx}")),
                    b_hh: self.p1(l, &format!("bias_hh{sfx}")),
                }
            })
            .collect()
    }

    /// The dropout masks of a recurrent layer at `mode`, per direction: with recurrent dropout each gate has its own
    /// copy (as Keras), else the gates share one.
    fn recurrent_masks(&self, l: usize, mode: Mode, b: usize, i: usize, r: &RecurrentOptions) -> Vec<RecurrentMasks> {
        let copies = if r.recurrent_dropout > 0.0 { r.gates } else { 1 };
        (0..r.dirs)
            .map(|d| {
                let (s_in, s_rec) = if d == 0 {
                    (rng::STREAM_LSTM_INPUT, rng::STREAM_LSTM_RECURRENT)
                } else {
                    (rng::STREAM_LSTM_INPUT_REVERSE, rng::STREAM_LSTM_RECURRENT_REVERSE)
                };
                let draw = |purpose: u64, rate: f32, width: usize| match mode {
                    Mode::Training { step } if rate > 0.0 => Some(
                        dropout::counter_mask(self.config.seed, l, purpose, step, rate, b * copies * width)
                            .into_shape_with_order((b, copies, width))
                            .expect("mask [B,G,F]"),
                    ),
                    _ => None,
                };
                RecurrentMasks { input: draw(s_in, r.dropout, i), recurrent: draw(s_rec, r.recurrent_dropout, r.units) }
            })
            .collect()
    }

    /// Runs every layer. `states` gives recurrent initial states (stateful inference); the final ones are returned.
    pub fn forward(&self, x: &Input, mode: Mode, states: Option<&States>) -> Forward {
        let seed = self.config.seed;
        let n = self.config.layers.len();
        let mut f = Forward { acts: Vec::new(), masks: Vec::new(), caches: Vec::new(), states: vec![None; n] };
        let mut mask: Option<Array2<bool>> = None;
        for (l, cfg) in self.config.layers.iter().enumerate() {
            let xin: ArrayD<f64> = match (l, x) {
                (0, Input::Floats(v)) => v.clone(),
                (0, Input::Tokens(_)) => ArrayD::zeros(IxDyn(&[0])),
                _ => f.acts[l - 1].clone(),
            };
            f.masks.push(mask.clone());
            let (y, cache) = match cfg {
                LayerConfig::Embedding(c) => {
                    let Input::Tokens(ids) = x else { panic!("an embedding reads token ids") };
                    if c.mask_zero {
                        mask = Some(ids.mapv(|id| id != 0));
                    }
                    (embedding::embedding_forward(&self.p2(l, "weight"), ids).into_dyn(), Cache::None)
                }
                LayerConfig::Lstm(_) | LayerConfig::Gru(_) | LayerConfig::SimpleRnn(_) => {
                    let r = RecurrentOptions::of(cfg).expect("a recurrent layer");
                    let x3 = xin.into_dimensionality::<Ix3>().expect("a recurrent layer reads [B,T,F]");
                    let (b, _, i) = x3.dim();
                    let masks = self.recurrent_masks(l, mode, b, i, &r);
                    let weights = self.recurrent_weights(l, r.dirs);
                    // A state for another batch size is not carried over (as the fast path).
                    let init = states.and_then(|s| s[l].as_ref()).filter(|s| s[0].nrows() == b);
                    let (m, seq) = (mask.as_ref(), r.return_sequences);
                    let (y, cache, state) = match cfg {
                        LayerConfig::Lstm(_) => {
                            let (y, traces) = lstm::lstm_layer_forward(&weights, &x3, m, &masks, init.map(|s| (&s[0], &s[1])), seq);
                            let state = vec![traces[0].run.h_final.clone(), traces[0].c_final.clone()];
                            (y, Cache::Lstm { traces }, state)
                        }
                        LayerConfig::Gru(_) => {
                            let (y, traces) = gru::gru_layer_forward(&weights, &x3, m, &masks, init.map(|s| &s[0]), seq);
                            let state = vec![traces[0].run.h_final.clone()];
                            (y, Cache::Gru { traces }, state)
                        }
                        LayerConfig::SimpleRnn(c) => {
                            let (y, traces) = simple_rnn::simple_rnn_layer_forward(&weights, c.activation, &x3, m, &masks, init.map(|s| &s[0]), seq);
                            let state = vec![traces[0].run.h_final.clone()];
                            (y, Cache::Rnn { traces }, state)
                        }
                        _ => unreachable!("a recurrent kind"),
                    };
                    f.states[l] = Some(state);
                    let y = if seq {
                        y.into_dyn()
                    } else {
                        mask = None;
                        y.index_axis_move(Axis(1), 0).into_dyn()
                    };
                    (y, cache)
                }
                LayerConfig::Conv1d(c) => {
                    let x3 = xin.into_dimensionality::<Ix3>().expect("a conv1d reads [B,T,C]");
                    let shape = ConvShape { k: c.kernel_size, stride: c.strides, dilation: c.dilation_rate, padding: c.padding };
                    let z = conv1d::conv1d_forward(&x3, &self.p3(l, "weight"), &self.p1(l, "bias"), shape);
                    let y = dense::activation_forward(c.activation, &rows(&z.into_dyn()));
                    mask = None;
                    let (b, t_out) = (x3.dim().0, y.nrows() / x3.dim().0.max(1));
                    (y.into_shape_with_order((b, t_out, c.filters)).expect("[B,T',F]").into_dyn(), Cache::Conv1d { shape })
                }
                LayerConfig::MaxPooling1d(c) => {
                    let x3 = xin.into_dimensionality::<Ix3>().expect("pooling reads [B,T,F]");
                    let (y, argmax) = max_pooling1d::max_pooling1d_forward(&x3, c.pool_size, c.stride(), c.padding);
                    mask = None;
                    (y.into_dyn(), Cache::MaxPool1d { argmax })
                }
                LayerConfig::Dense(c) => {
                    let shape = xin.shape().to_vec();
                    let x2 = rows(&xin);
                    let z = dense::dense_forward(&x2, &self.p2(l, "weight"), &self.p1(l, "bias"));
                    let y = dense::activation_forward(c.activation, &z);
                    let mut out_shape = shape;
                    *out_shape.last_mut().unwrap() = c.units;
                    let reshape = |a: Array2<f64>| standard(a.into_dyn()).into_shape_with_order(IxDyn(&out_shape)).expect("dense output shape");
                    (reshape(y), Cache::Dense { z: reshape(z) })
                }
                LayerConfig::Dropout(c) => match mode {
                    Mode::Training { step } if c.rate > 0.0 => {
                        let m = dropout::counter_mask(seed, l, rng::STREAM_DROPOUT, step, c.rate, xin.len())
                            .into_shape_with_order(IxDyn(xin.shape()))
                            .expect("mask shaped like the input");
                        (dropout::dropout_forward(&xin, &m), Cache::Dropout { mask: Some(m) })
                    }
                    _ => (xin, Cache::Dropout { mask: None }),
                },
                LayerConfig::GlobalAveragePooling1d(_) => {
                    let x3 = xin.into_dimensionality::<Ix3>().expect("pooling reads [B,T,F]");
                    let y = pooling::global_average_pooling_forward(&x3, mask.as_ref());
                    mask = None;
                    (y.into_dyn(), Cache::None)
                }
                LayerConfig::GlobalMaxPooling1d(_) => {
                    let x3 = xin.into_dimensionality::<Ix3>().expect("pooling reads [B,T,F]");
                    let (y, argmax) = pooling::global_max_pooling_forward(&x3);
                    mask = None;
                    (y.into_dyn(), Cache::MaxPool { argmax })
                }
            };
            f.acts.push(standard(y));
            f.caches.push(cache);
        }
        f
    }

    pub fn predict(&self, x: &Input) -> ArrayD<f64> {
        self.forward(x, Mode::Inference, None).acts.pop().expect("at least one layer")
    }

    /// Stateful inference: runs x from `states` (zeros where `None` or where the batch size differs) and returns
    /// the output and the new states.
    pub fn predict_step(&self, x: &Input, states: &States) -> (ArrayD<f64>, States) {
        let mut f = self.forward(x, Mode::Inference, Some(states));
        (f.acts.pop().expect("at least one layer"), f.states)
    }

    /// The last layer's activation and pre-activation, for the loss.
    fn loss_inputs<'a>(&self, f: &'a Forward) -> (Activation, &'a ArrayD<f64>) {
        let last = self.config.layers.len() - 1;
        match (&self.config.layers[last], &f.caches[last]) {
            (LayerConfig::Dense(c), Cache::Dense { z }) => (c.activation, z),
            _ => (Activation::Linear, &f.acts[last]),
        }
    }

    /// The loss of a forward pass against targets `y` (flat; class ids as floats for sparse cross-entropy), and the
    /// gradient with respect to the output (or the last pre-activation when the flag is set).
    pub fn loss(&self, f: &Forward, y: &[f64]) -> (f64, Array2<f64>, bool) {
        let cfg = self.config.loss.as_ref().expect("a loss");
        let (act, z) = self.loss_inputs(f);
        loss::loss_forward_backward(cfg, &rows(f.output()), &rows(z), act, y)
    }

    /// Forward in `mode`, the loss, and backward to every parameter and (for float inputs) to the input.
    pub fn gradients(&self, x: &Input, y: &[f64], mode: Mode) -> Gradients {
        let f = self.forward(x, mode, None);
        let (loss_value, dout, wrt_logits) = self.loss(&f, y);
        let last = self.config.layers.len() - 1;
        let mut dy: ArrayD<f64> = standard(dout.into_dyn()).into_shape_with_order(IxDyn(f.acts[last].shape())).expect("gradient shaped like the output");
        let mut grads = BTreeMap::new();
        let mut input = None;
        for l in (0..=last).rev() {
            let xin: ArrayD<f64> = match (l, x) {
                (0, Input::Floats(v)) => v.clone(),
                (0, Input::Tokens(_)) => ArrayD::zeros(IxDyn(&[0])),
                _ => f.acts[l - 1].clone(),
            };
            let mut put = |name: String, g: ArrayD<f64>| {
                grads.insert(format!("{l}.{name}"), standard(g));
            };
            let dx: Option<ArrayD<f64>> = match (&self.config.layers[l], &f.caches[l]) {
                (LayerConfig::Embedding(c), _) => {
                    let Input::Tokens(ids) = x else { unreachable!() };
                    let dy3 = dy.clone().into_dimensionality::<Ix3>().expect("[B,T,D]");
                    put("weight".into(), embedding::embedding_backward(c.input_dim, ids, &dy3).into_dyn());
                    None
                }
                (LayerConfig::Lstm(_) | LayerConfig::Gru(_) | LayerConfig::SimpleRnn(_), cache) => {
                    let r = RecurrentOptions::of(&self.config.layers[l]).expect("a recurrent layer");
                    let dy3 = if r.return_sequences {
                        dy.clone().into_dimensionality::<Ix3>().expect("[B,T,dirs·H]")
                    } else {
                        dy.clone().insert_axis(Axis(1)).into_dimensionality::<Ix3>().expect("[B,1,dirs·H]")
                    };
                    let weights = self.recurrent_weights(l, r.dirs);
                    let seq = r.return_sequences;
                    let (per_direction, dx) = match cache {
                        Cache::Lstm { traces } => lstm::lstm_layer_backward(&weights, traces, &dy3, seq),
                        Cache::Gru { traces } => gru::gru_layer_backward(&weights, traces, &dy3, seq),
                        Cache::Rnn { traces } => simple_rnn::simple_rnn_layer_backward(&weights, traces, &dy3, seq),
                        _ => unreachable!("each layer keeps its own cache"),
                    };
                    for (d, g) in per_direction.into_iter().enumerate() {
                        let sfx = if d == 1 { "_reverse" } else { "" };
                        put(format!("weight_ih{sfx}"), g.dw_ih.into_dyn());
                        put(format!("weight_hh{sfx}"), g.dw_hh.into_dyn());
                        put(format!("bias_ih{sfx}"), g.db_ih.into_dyn());
                        put(format!("bias_hh{sfx}"), g.db_hh.into_dyn());
                    }
                    Some(dx.into_dyn())
                }
                (LayerConfig::Conv1d(c), Cache::Conv1d { shape }) => {
                    let x3 = xin.clone().into_dimensionality::<Ix3>().expect("[B,T,C]");
                    let dz = dense::activation_backward(c.activation, &rows(&f.acts[l]), &rows(&dy));
                    let dz = dz.into_shape_with_order(IxDyn(f.acts[l].shape())).expect("dz shaped like y").into_dimensionality::<Ix3>().expect("[B,T',F]");
                    let g = conv1d::conv1d_backward(&x3, &self.p3(l, "weight"), &dz, *shape);
                    put("weight".into(), g.dw.into_dyn());
                    put("bias".into(), g.db.into_dyn());
                    Some(g.dx.into_dyn())
                }
                (LayerConfig::MaxPooling1d(_), Cache::MaxPool1d { argmax }) => {
                    let dy3 = dy.clone().into_dimensionality::<Ix3>().expect("[B,T',F]");
                    Some(max_pooling1d::max_pooling1d_backward(xin.shape()[1], argmax, &dy3).into_dyn())
                }
                (LayerConfig::Dense(c), Cache::Dense { .. }) => {
                    let dz = if l == last && wrt_logits { rows(&dy) } else { dense::activation_backward(c.activation, &rows(&f.acts[l]), &rows(&dy)) };
                    let g = dense::dense_backward(&rows(&xin), &self.p2(l, "weight"), &dz);
                    put("weight".into(), g.dw.into_dyn());
                    put("bias".into(), g.db.into_dyn());
                    Some(standard(g.dx.into_dyn()).into_shape_with_order(IxDyn(xin.shape())).expect("dx shaped like x"))
                }
                (LayerConfig::Dropout(_), Cache::Dropout { mask }) => Some(match mask {
                    Some(m) => dropout::dropout_backward(m, &dy),
                    None => dy.clone(),
                }),
                (LayerConfig::GlobalAveragePooling1d(_), _) => {
                    let t = xin.shape()[1];
                    let dy2 = dy.clone().into_dimensionality::<Ix2>().expect("[B,F]");
                    Some(pooling::global_average_pooling_backward(t, f.masks[l].as_ref(), &dy2).into_dyn())
                }
                (LayerConfig::GlobalMaxPooling1d(_), Cache::MaxPool { argmax }) => {
                    let t = xin.shape()[1];
                    let dy2 = dy.clone().into_dimensionality::<Ix2>().expect("[B,F]");
                    Some(pooling::global_max_pooling_backward(t, argmax, &dy2).into_dyn())
                }
                _ => unreachable!("each layer keeps its own cache"),
            };
            match (l, dx.map(standard)) {
                (0, dx) => input = dx,
                (_, Some(dx)) => dy = dx,
                (_, None) => unreachable!("only a first layer (embedding) has no input gradient"),
            }
        }
        Gradients { loss: loss_value, grads, input }
    }
}

/// The array in row-major order (products may come out column-major), so it can be reshaped and read as a slice.
fn standard(a: ArrayD<f64>) -> ArrayD<f64> {
    if a.is_standard_layout() {
        a
    } else {
        a.as_standard_layout().into_owned()
    }
}

/// `[B,T,F]` or `[B,F]` as rows `[N,F]`.
fn rows(a: &ArrayD<f64>) -> Array2<f64> {
    let f = *a.shape().last().expect("at least one axis");
    let n = a.len() / f.max(1);
    a.to_shape((n, f)).expect("contiguous rows").to_owned()
}
