//! A reference Sequential model: the layers of a [`ModelConfig`] chained from their reference implementations, on
//! named float64 parameters (PyTorch names `{layer}.{name}`, as `Model::entries`). Forward in inference or training
//! mode (training draws the dropout masks the crate draws at the given step), the loss, backward to every parameter
//! and to a float input, and stateful inference from given LSTM states.

use super::lstm::{LstmMasks, LstmTrace, LstmWeights};
use super::{dense, dropout, embedding, loss, lstm, pooling, to_f64};
use crate::config::{Activation, LayerConfig, ModelConfig};
use crate::model::Model;
use crate::rng;
use ndarray::{Array1, Array2, ArrayD, Ix1, Ix2, Ix3, IxDyn};
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

/// LSTM states `(h, c)` `[B,H]` per layer (`None` for other layers and for a zero start).
pub type States = Vec<Option<(Array2<f64>, Array2<f64>)>>;

/// What a layer's forward keeps for its backward.
enum Cache {
    None,
    Dense { z: ArrayD<f64> },
    Dropout { mask: Option<ArrayD<f64>> },
    Lstm { traces: Vec<LstmTrace> },
    MaxPool { argmax: Array2<usize> },
}

/// A forward pass: every layer's output (`acts[l]`), the mask each layer read, and the final LSTM states.
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

    fn lstm_weights(&self, l: usize, dirs: usize) -> Vec<LstmWeights> {
        (0..dirs)
            .map(|d| {
                let sfx = if d == 1 { "_reverse" } else { "" };
                LstmWeights {
                    w_ih: self.p2(l, &format!("weight_ih{sfx}")),
                    w_hh: self.p2(l, &format!("weight_hh{sfx}")),
                    b_ih: self.p1(l, &format!("bias_ih{sfx}")),
                    b_hh: self.p1(l, &format!("bias_hh{sfx}")),
                }
            })
            .collect()
    }

    /// Runs every layer. `states` gives LSTM initial states (stateful inference); the final ones are returned.
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
                LayerConfig::Lstm(c) => {
                    let x3 = xin.into_dimensionality::<Ix3>().expect("an LSTM reads [B,T,F]");
                    let (b, _, i) = x3.dim();
                    let dirs = if c.bidirectional { 2 } else { 1 };
                    let h = c.units;
                    // With recurrent dropout each gate has its own masks (4 copies), as Keras.
                    let copies = if c.recurrent_dropout > 0.0 { 4 } else { 1 };
                    let masks: Vec<LstmMasks> = (0..dirs)
                        .map(|d| {
                            let (s_in, s_rec) = if d == 0 {
                                (rng::STREAM_LSTM_INPUT, rng::STREAM_LSTM_RECURRENT)
                            } else {
                                (rng::STREAM_LSTM_INPUT_REVERSE, rng::STREAM_LSTM_RECURRENT_REVERSE)
                            };
                            let draw = |purpose: u64, rate: f32, width: usize| match mode {
                                Mode::Training { step } if rate > 0.0 => Some(
                                    dropout::counter_mask(seed, l, purpose, step, rate, b * copies * width)
                                        .into_shape_with_order((b, copies, width))
                                        .expect("mask [B,G,F]"),
                                ),
                                _ => None,
                            };
                            LstmMasks { input: draw(s_in, c.dropout, i), recurrent: draw(s_rec, c.recurrent_dropout, h) }
                        })
                        .collect();
                    let init = states.and_then(|s| s[l].as_ref()).filter(|(h0, _)| h0.nrows() == b).map(|(h0, c0)| (h0, c0));
                    let (y, traces) = lstm::lstm_layer_forward(&self.lstm_weights(l, dirs), &x3, mask.as_ref(), &masks, init, c.return_sequences);
                    f.states[l] = Some((traces[0].h_final.clone(), traces[0].c_final.clone()));
                    let y = if c.return_sequences {
                        y.into_dyn()
                    } else {
                        mask = None;
                        y.index_axis_move(ndarray::Axis(1), 0).into_dyn()
                    };
                    (y, Cache::Lstm { traces })
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
                // GRU, SimpleRNN, Conv1D and MaxPooling1D are checked by finite differences and golden cases; their
                // float64 references are still to be written.
                other => panic!("the reference Sequential has no {} layer", other.kind()),
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
                (LayerConfig::Lstm(c), Cache::Lstm { traces }) => {
                    let dirs = traces.len();
                    let dy3 = if c.return_sequences {
                        dy.clone().into_dimensionality::<Ix3>().expect("[B,T,dirs·H]")
                    } else {
                        dy.clone().insert_axis(ndarray::Axis(1)).into_dimensionality::<Ix3>().expect("[B,1,dirs·H]")
                    };
                    let weights = self.lstm_weights(l, dirs);
                    let (g, dx) = lstm::lstm_layer_backward(&weights, traces, &dy3, c.return_sequences);
                    for (d, g) in g.into_iter().enumerate() {
                        let sfx = if d == 1 { "_reverse" } else { "" };
                        put(format!("weight_ih{sfx}"), g.dw_ih.into_dyn());
                        put(format!("weight_hh{sfx}"), g.dw_hh.into_dyn());
                        put(format!("bias_ih{sfx}"), g.db.clone().into_dyn());
                        put(format!("bias_hh{sfx}"), g.db.into_dyn());
                    }
                    Some(dx.into_dyn())
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
