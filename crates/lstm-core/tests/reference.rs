//! Property tests: the fast paths against the plain float64 reference (`lstm_core::reference`).
//!
//! Each case draws a model (embedding or float input, masks, dropout, a Conv1D with every padding, stride, dilation
//! and activation, a MaxPooling1D, one or two recurrent layers of every kind (LSTM, GRU, SimpleRNN with each
//! activation), one- or two-way, with dropout and recurrent dropout, global pooling, dense heads, every activation
//! and loss, every optimizer with its options), a batch of 1 to 70 samples
//! and 1 to 12 steps, data, a seed for the dropout masks and 1 to 3 threads, and checks through the public `Model`
//! API: inference outputs (`predict`, which takes the final-state-only pass for batches above 4 on AVX-512 CPUs),
//! the inference loss (`evaluate`), the training loss, every parameter gradient and the input gradient
//! (`forward_backward`), and the parameters after each update, both from stored gradients (`apply_gradients`) and
//! from a twin model's `train_step` (which, for at most 4 rows and no clipping, leaves weight gradients low-rank and
//! updates LSTM weights inside backward). Batches of at most 4 samples take the streaming small-batch kernels, larger
//! ones the packed kernel (AVX-512 CPUs) or matrixmultiply (others): the batch sizes cover both sides.
//!
//! Updates are checked against the reference optimizer applied to the fast path's own gradients (which are checked
//! separately), so that an optimizer that normalises its step (Adam, RMSProp) is not asked to reproduce the sign of a
//! gradient near zero across float32 and float64.
//!
//! Tolerances (float32 kernels, fast exp/tanh, against float64): every element within
//! `TOL_SCALE·max|ref| + TOL_REL·|ref| + TOL_FLOOR` of the reference, the scale taken per tensor.

use lstm_core::config::Padding;
use lstm_core::reference::conv1d::window_geometry;
use lstm_core::reference::model::{Input, Mode, Sequential};
use lstm_core::reference::optim::Optimizer as RefOptimizer;
use lstm_core::reference::to_f64;
use lstm_core::{Data, Model, ModelConfig};
use ndarray::{Array2, ArrayD};
use proptest::prelude::*;
use proptest::test_runner::{RngSeed, TestCaseError, TestRunner};
use std::cell::RefCell;
use std::collections::BTreeMap;

mod common;
use common::Lcg;

/// Cases per property (the whole file runs in about a minute at `--profile test-opt` on two cores).
const MODEL_CASES: u32 = 1000;
const CASES: u32 = 300;

/// Outputs, losses and gradients: relative to the tensor's largest reference element.
const TOL_SCALE: f64 = 3e-5;
const TOL_REL: f64 = 3e-5;
const TOL_FLOOR: f64 = 1e-8;
/// Parameters after an update (same gradients on both sides): the update's float32 rounding only.
const UPD_ABS: f64 = 1e-7;
const UPD_REL: f64 = 1e-6;
/// The twin's `train_step` forms its gradients itself (low-rank, inline), in another summation order: with gradients
/// near zero, which RMSProp and Adam divide by their own size, last-bit differences become visible in the update
/// (seen: 1e-6 on a step of 1.4e-2, gradient 3e-9, RMSProp ε 1e-10). Still far below any update of a wrong gradient.
const TWIN_ABS: f64 = 1e-5;

/// Runs `check` on `n` cases drawn from `strategy` (shrinking a failure to a small case), then prints how much of
/// the tolerance the cases used.
fn run<S: Strategy>(name: &str, n: u32, strategy: S, check: impl Fn(S::Value) -> Result<(), TestCaseError>) {
    // A fixed seed unless PROPTEST_RNG_SEED names one, so a run is repeatable; PROPTEST_CASES overrides the count.
    let mut config = ProptestConfig { cases: n, max_shrink_iters: 64, failure_persistence: None, ..ProptestConfig::default() };
    if std::env::var_os("PROPTEST_RNG_SEED").is_none() {
        config.rng_seed = RngSeed::Fixed(0x5eed_1234);
    }
    if let Some(c) = std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()) {
        config.cases = c;
    }
    let result = TestRunner::new(config).run(&strategy, check);
    report(name);
    if let Err(e) = result {
        panic!("{name}: {e}");
    }
}

// The largest fraction of its tolerance any element has used, per kind of check (printed by each test, so the margin
// can be read with `--nocapture`).
thread_local! {
    static USED: RefCell<BTreeMap<&'static str, f64>> = const { RefCell::new(BTreeMap::new()) };
}

fn kind(what: &str) -> &'static str {
    ["predict_step", "train_step loss", "training loss", "evaluate", "input grad", "apply_gradients", "train_step", "grad", "predict"]
        .into_iter()
        .find(|k| what.contains(k))
        .unwrap_or("other")
}

fn report(test: &str) {
    let parts: Vec<String> = USED.with_borrow(|used| used.iter().map(|(k, v)| format!("{k} {:.1}%", v * 100.0)).collect());
    println!("{test}: largest share of the tolerance used: {}", parts.join(", "));
}

/// `got` against `want`: the worst element's excess over the tolerance, as a readable failure.
fn close(what: &str, got: &[f32], want: &[f64], scale_tol: f64, rel: f64, floor: f64) -> Result<(), TestCaseError> {
    prop_assert_eq!(got.len(), want.len(), "{}: length", what);
    let scale = want.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let mut worst = 0.0f64;
    for (k, (&g, &w)) in got.iter().zip(want).enumerate() {
        let tol = scale_tol * scale + rel * w.abs() + floor;
        worst = worst.max(((g as f64) - w).abs() / tol);
        prop_assert!(
            ((g as f64) - w).abs() <= tol,
            "{}[{}] = {}, reference {} (|diff| {:.3e} > tol {:.3e}; max |ref| {:.3e})",
            what,
            k,
            g,
            w,
            ((g as f64) - w).abs(),
            tol,
            scale
        );
    }
    USED.with_borrow_mut(|used| {
        let e = used.entry(kind(what)).or_insert(0.0);
        *e = e.max(worst);
    });
    Ok(())
}

fn close_t(what: &str, got: &[f32], want: &ArrayD<f64>) -> Result<(), TestCaseError> {
    close(what, got, want.as_slice().expect("contiguous"), TOL_SCALE, TOL_REL, TOL_FLOOR)
}

// -------------------------------------------------------------------------------------------------------------
// Cases

#[derive(Clone, Debug)]
enum InputSpec {
    /// Token ids in [0, vocab) (in [1, vocab) but for `zeros_pct`% zeros with maskZero), embedded in `dim`.
    Tokens {
        vocab: usize,
        dim: usize,
        mask_zero: bool,
        zeros_pct: u32,
    },
    Floats {
        features: usize,
    },
}

/// A recurrent layer kind; a SimpleRNN with its activation.
#[derive(Clone, Copy, Debug)]
enum Kind {
    Lstm,
    Gru,
    SimpleRnn(&'static str),
}

impl Kind {
    /// The layer's JSON type and extra options.
    fn json(self) -> (&'static str, String) {
        match self {
            Kind::Lstm => ("lstm", String::new()),
            Kind::Gru => ("gru", String::new()),
            Kind::SimpleRnn(act) => ("simpleRnn", format!(r#","activation":"{act}""#)),
        }
    }
}

fn kind_strategy() -> impl Strategy<Value = Kind> {
    prop_oneof![Just(Kind::Lstm), Just(Kind::Gru), (0usize..4).prop_map(|a| Kind::SimpleRnn(["tanh", "relu", "sigmoid", "linear"][a]))]
}

#[derive(Clone, Debug)]
struct RnnSpec {
    kind: Kind,
    units: usize,
    return_sequences: bool,
    bidirectional: bool,
    dropout: f32,
    recurrent_dropout: f32,
}

/// A Conv1D; `padding` valid is turned into same where the sequence is shorter than the window.
#[derive(Clone, Debug)]
struct ConvSpec {
    filters: usize,
    kernel_size: usize,
    strides: usize,
    dilation: usize,
    padding: Padding,
    activation: &'static str,
}

/// A MaxPooling1D (`strides` None: poolSize); valid padding turned into same as for [`ConvSpec`].
#[derive(Clone, Debug)]
struct Pool1dSpec {
    pool_size: usize,
    strides: Option<usize>,
    padding: Padding,
}

#[derive(Clone, Copy, Debug)]
enum Pool {
    None,
    Average,
    Max,
}

#[derive(Clone, Debug)]
struct Spec {
    b: usize,
    t: usize,
    threads: usize,
    seed: u64,
    input: InputSpec,
    /// A Dropout layer after the input.
    dropout_after_input: f32,
    /// A Conv1D, then a MaxPooling1D, before the recurrent layers.
    conv: Option<ConvSpec>,
    pool1d: Option<Pool1dSpec>,
    /// Recurrent layers (none only after a Conv1D or MaxPooling1D).
    rnns: Vec<RnnSpec>,
    pool: Pool,
    /// A hidden Dense (units, activation) before the output layer.
    hidden: Option<(usize, &'static str)>,
    out_units: usize,
    out_act: &'static str,
    /// Picks the loss among those that suit the output activation.
    loss_pick: usize,
    optimizer: String,
    /// Training steps to check (each: gradients, then the update).
    steps: usize,
    /// The twin trained by `train_step` also forms the input gradient (so its first LSTM can update W_ih inline).
    twin_input_grad: bool,
}

const ACTS: [&str; 5] = ["linear", "relu", "sigmoid", "tanh", "softmax"];

/// The losses that suit an output activation: (loss JSON, target kind).
fn losses_for(act: &str) -> Vec<(&'static str, Target)> {
    let mse = (r#""mse""#, Target::Real);
    match act {
        "softmax" => vec![(r#"{"type":"sparse_categorical_crossentropy"}"#, Target::Labels), (r#""categorical_crossentropy""#, Target::Distribution), mse],
        "sigmoid" => vec![(r#""binary_crossentropy""#, Target::Binary), mse],
        "linear" => vec![
            (r#"{"type":"sparse_categorical_crossentropy","fromLogits":true}"#, Target::Labels),
            (r#"{"type":"categorical_crossentropy","fromLogits":true}"#, Target::Distribution),
            (r#"{"type":"binary_crossentropy","fromLogits":true}"#, Target::Binary),
            mse,
        ],
        _ => vec![mse, (r#"{"type":"binary_crossentropy","fromLogits":true}"#, Target::Binary)],
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Target {
    Real,
    Binary,
    Labels,
    Distribution,
}

fn optimizer_strategy() -> impl Strategy<Value = String> {
    let clip = prop_oneof![
        3 => Just(String::new()),
        1 => (0.05f32..1.0).prop_map(|c| format!(r#","clipnorm":{c}"#)),
        1 => (0.001f32..0.05).prop_map(|c| format!(r#","clipvalue":{c}"#)),
    ];
    let kind = prop_oneof![
        Just(r#""type":"sgd","learningRate":0.1"#.to_string()),
        (0.5f32..0.95, any::<bool>()).prop_map(|(m, n)| format!(r#""type":"sgd","learningRate":0.05,"momentum":{m},"nesterov":{n}"#)),
        Just(r#""type":"rmsprop","learningRate":0.01"#.to_string()),
        (0.5f32..0.95).prop_map(|m| format!(r#""type":"rmsprop","learningRate":0.005,"momentum":{m},"epsilon":1e-10"#)),
        Just(r#""type":"adam","learningRate":0.01"#.to_string()),
        (0.5f32..0.95, 0.9f32..0.9999).prop_map(|(b1, b2)| format!(r#""type":"adam","learningRate":0.003,"beta1":{b1},"beta2":{b2},"epsilon":1e-8"#)),
    ];
    (kind, clip).prop_map(|(k, c)| format!("{{{k}{c}}}"))
}

fn rnn_strategy(max_units: usize) -> impl Strategy<Value = RnnSpec> {
    let rates = (prop_oneof![2 => Just(0.0f32), 1 => Just(0.25f32)], prop_oneof![2 => Just(0.0f32), 1 => Just(0.3f32)]);
    (kind_strategy(), 1..=max_units, any::<bool>(), any::<bool>(), rates).prop_map(
        |(kind, units, return_sequences, bidirectional, (dropout, recurrent_dropout))| RnnSpec {
            kind,
            units,
            return_sequences,
            bidirectional,
            dropout,
            recurrent_dropout,
        },
    )
}

/// Batches of 1 to 70, half of them at most 4 (the small-batch kernels), the rest above (packed or matrixmultiply).
fn batch_strategy() -> impl Strategy<Value = usize> {
    prop_oneof![1 => 1usize..=4, 1 => 5usize..=70]
}

fn spec_strategy() -> impl Strategy<Value = Spec> {
    let input = prop_oneof![
        (2usize..40, 1usize..10, any::<bool>(), 0u32..50).prop_map(|(vocab, dim, mask_zero, zeros_pct)| InputSpec::Tokens { vocab, dim, mask_zero, zeros_pct }),
        (1usize..10).prop_map(|features| InputSpec::Floats { features }),
    ];
    let rnns = (rnn_strategy(40), proptest::option::of(rnn_strategy(16))).prop_map(|(mut a, b)| match b {
        Some(b) => {
            a.return_sequences = true;
            vec![a, b]
        }
        None => vec![a],
    });
    let padding = || prop_oneof![Just(Padding::Valid), Just(Padding::Same)];
    // Keras allows a dilation above 1 only with strides 1.
    let conv =
        (1usize..12, 1usize..=4, prop_oneof![(Just(1usize), 1usize..=3), (1usize..=3, Just(1usize))], prop_oneof![padding(), Just(Padding::Causal)], 0usize..5)
            .prop_map(|(filters, kernel_size, (strides, dilation), padding, act)| ConvSpec {
                filters,
                kernel_size,
                strides,
                dilation,
                padding,
                activation: ACTS[act],
            });
    let pool1d = (1usize..=4, proptest::option::of(1usize..=3), padding()).prop_map(|(pool_size, strides, padding)| Pool1dSpec { pool_size, strides, padding });
    // Conv1D and MaxPooling1D in a third of the cases each; no recurrent layer in a fifth of those.
    let front = (prop_oneof![2 => Just(None), 1 => conv.prop_map(Some)], prop_oneof![2 => Just(None), 1 => pool1d.prop_map(Some)], rnns, 0u32..5).prop_map(
        |(conv, pool1d, rnns, skip)| {
            let rnns = if skip == 0 && (conv.is_some() || pool1d.is_some()) { Vec::new() } else { rnns };
            (conv, pool1d, rnns)
        },
    );
    let head =
        (prop_oneof![Just(Pool::None), Just(Pool::Average), Just(Pool::Max)], proptest::option::of((1usize..24, 0usize..4)), 1usize..8, 0usize..5, 0usize..4);
    (
        batch_strategy(),
        1usize..=12,
        1usize..=3,
        any::<u64>(),
        input,
        prop_oneof![3 => Just(0.0f32), 1 => Just(0.2f32)],
        front,
        head,
        optimizer_strategy(),
        1usize..=2,
        any::<bool>(),
    )
        .prop_map(
            |(
                b,
                t,
                threads,
                seed,
                input,
                dropout_after_input,
                (mut conv, mut pool1d, rnns),
                (pool, hidden, out_units, out_act, loss_pick),
                optimizer,
                steps,
                twin_input_grad,
            )| {
                // Valid windows must fit in the sequence: a window longer than it pads (same) instead.
                let mut steps_left = t;
                if let Some(c) = &mut conv {
                    let span = c.dilation * (c.kernel_size - 1) + 1;
                    if c.padding == Padding::Valid && t < span {
                        c.padding = Padding::Same;
                    }
                    steps_left = window_geometry(t, span, c.strides, c.padding).0;
                }
                if let Some(p) = &mut pool1d {
                    if p.padding == Padding::Valid && steps_left < p.pool_size {
                        p.padding = Padding::Same;
                    }
                }
                let out_act = ACTS[out_act];
                // Softmax over one unit is constant: give it two.
                let out_units = if out_act == "softmax" { out_units.max(2) } else { out_units };
                Spec {
                    b,
                    t,
                    threads,
                    seed,
                    input,
                    dropout_after_input,
                    conv,
                    pool1d,
                    rnns,
                    pool,
                    hidden: hidden.map(|(u, a)| (u, ACTS[a])),
                    out_units,
                    out_act,
                    loss_pick,
                    optimizer,
                    steps,
                    twin_input_grad,
                }
            },
        )
}

fn padding_name(p: Padding) -> &'static str {
    match p {
        Padding::Valid => "valid",
        Padding::Same => "same",
        Padding::Causal => "causal",
    }
}

impl Spec {
    fn layers_json(&self) -> String {
        let mut layers = Vec::new();
        match &self.input {
            InputSpec::Tokens { vocab, dim, mask_zero, .. } => {
                layers.push(format!(r#"{{"type":"embedding","inputDim":{vocab},"outputDim":{dim},"maskZero":{mask_zero}}}"#))
            }
            InputSpec::Floats { .. } => {}
        }
        if self.dropout_after_input > 0.0 {
            layers.push(format!(r#"{{"type":"dropout","rate":{}}}"#, self.dropout_after_input));
        }
        if let Some(c) = &self.conv {
            layers.push(format!(
                r#"{{"type":"conv1d","filters":{},"kernelSize":{},"strides":{},"dilationRate":{},"padding":"{}","activation":"{}"}}"#,
                c.filters,
                c.kernel_size,
                c.strides,
                c.dilation,
                padding_name(c.padding),
                c.activation
            ));
        }
        if let Some(p) = &self.pool1d {
            let strides = p.strides.map(|s| format!(r#","strides":{s}"#)).unwrap_or_default();
            layers.push(format!(r#"{{"type":"maxPooling1d","poolSize":{}{strides},"padding":"{}"}}"#, p.pool_size, padding_name(p.padding)));
        }
        for l in &self.rnns {
            let (kind, extra) = l.kind.json();
            layers.push(format!(
                r#"{{"type":"{kind}","units":{},"returnSequences":{},"bidirectional":{},"dropout":{},"recurrentDropout":{}{extra}}}"#,
                l.units, l.return_sequences, l.bidirectional, l.dropout, l.recurrent_dropout
            ));
        }
        let seq = self.rnns.last().is_none_or(|l| l.return_sequences);
        match self.pool {
            Pool::Average if seq => layers.push(r#"{"type":"globalAveragePooling1d"}"#.into()),
            Pool::Max if seq => layers.push(r#"{"type":"globalMaxPooling1d"}"#.into()),
            _ => {}
        }
        if let Some((u, a)) = self.hidden {
            layers.push(format!(r#"{{"type":"dense","units":{u},"activation":"{a}"}}"#));
        }
        layers.push(format!(r#"{{"type":"dense","units":{},"activation":"{}"}}"#, self.out_units, self.out_act));
        // A float first layer learns its feature size from the data; give it an input shape so weights exist now.
        if let InputSpec::Floats { features } = self.input {
            let first = layers.remove(0);
            layers.insert(0, first.replacen('{', &format!(r#"{{"inputShape":[{},{features}],"#, self.t), 1));
        }
        format!("[{}]", layers.join(","))
    }

    fn loss(&self) -> (&'static str, Target) {
        let options = losses_for(self.out_act);
        options[self.loss_pick % options.len()]
    }

    fn config(&self) -> ModelConfig {
        let json = format!(r#"{{"layers": {}, "loss": {}, "optimizer": {}, "seed": {}}}"#, self.layers_json(), self.loss().0, self.optimizer, self.seed);
        ModelConfig::from_json(&json).unwrap_or_else(|e| panic!("{e}\n{json}"))
    }
}

/// Inputs and targets of a case, owned.
struct Batch {
    tokens: Vec<i32>,
    floats: Vec<f32>,
    x_shape: Vec<usize>,
    y_labels: Vec<i32>,
    y_floats: Vec<f32>,
    y_shape: Vec<usize>,
}

impl Batch {
    fn x(&self) -> Data<'_> {
        if self.tokens.is_empty() {
            Data::Floats(&self.floats, &self.x_shape)
        } else {
            Data::Tokens(&self.tokens, &self.x_shape)
        }
    }
    fn y(&self) -> Data<'_> {
        if self.y_labels.is_empty() {
            Data::Floats(&self.y_floats, &self.y_shape)
        } else {
            Data::Tokens(&self.y_labels, &self.y_shape)
        }
    }
    fn reference_x(&self) -> Input {
        if self.tokens.is_empty() {
            Input::Floats(to_f64(&self.floats, &self.x_shape))
        } else {
            Input::Tokens(Array2::from_shape_vec((self.x_shape[0], self.x_shape[1]), self.tokens.clone()).unwrap())
        }
    }
    fn reference_y(&self) -> Vec<f64> {
        if self.y_labels.is_empty() {
            self.y_floats.iter().map(|&v| v as f64).collect()
        } else {
            self.y_labels.iter().map(|&v| v as f64).collect()
        }
    }
}

/// Data for a model whose output has shape `out` (`[B,U]` or `[B,T,U]`).
fn batch(r: &mut Lcg, input: &InputSpec, b: usize, t: usize, out: &[usize], target: Target) -> Batch {
    let (tokens, floats, x_shape) = match *input {
        InputSpec::Tokens { vocab, mask_zero, zeros_pct, .. } => {
            let ids = (0..b * t)
                .map(|_| {
                    if mask_zero && (r.below(100) as u32) < zeros_pct {
                        0
                    } else {
                        (if mask_zero { 1 } else { 0 } + r.below(vocab - mask_zero as usize)) as i32
                    }
                })
                .collect();
            (ids, Vec::new(), vec![b, t])
        }
        InputSpec::Floats { features } => (Vec::new(), (0..b * t * features).map(|_| r.unit()).collect(), vec![b, t, features]),
    };
    let units = *out.last().unwrap();
    let rows: usize = out[..out.len() - 1].iter().product();
    let (mut y_labels, mut y_floats, mut y_shape) = (Vec::new(), Vec::new(), out.to_vec());
    match target {
        Target::Labels => {
            y_labels = (0..rows).map(|_| r.below(units) as i32).collect();
            y_shape.pop();
        }
        Target::Real => y_floats = (0..rows * units).map(|_| r.unit()).collect(),
        Target::Binary => y_floats = (0..rows * units).map(|_| (r.next() & 1) as f32).collect(),
        Target::Distribution => {
            for _ in 0..rows {
                let row: Vec<f32> = (0..units).map(|_| r.unit() + 1.1).collect();
                let s: f32 = row.iter().sum();
                y_floats.extend(row.iter().map(|v| v / s));
            }
        }
    }
    Batch { tokens, floats, x_shape, y_labels, y_floats, y_shape }
}

/// Sets every parameter to uniform(-s, s), s shrinking with the fan-in so deep sums stay in the tanh's range.
fn randomize(m: &mut Model, r: &mut Lcg) {
    let entries: Vec<(String, Vec<usize>)> = m.entries().iter().map(|e| (e.name.clone(), e.shape.clone())).collect();
    for (name, shape) in entries {
        let fan_in = if shape.len() == 2 { shape[1] } else { 4 };
        let s = (1.5 / (fan_in as f32).sqrt()).min(0.5);
        let v: Vec<f32> = (0..shape.iter().product::<usize>()).map(|_| r.unit() * s).collect();
        m.set_weight(&name, &shape, &v).unwrap();
    }
}

fn copy_weights(from: &Model, to: &mut Model) {
    for e in from.entries() {
        let (v, s) = from.get_weight(&e.name).unwrap();
        to.set_weight(&e.name, s, v).unwrap();
    }
}

fn fast_params(m: &Model) -> BTreeMap<String, ArrayD<f64>> {
    m.entries()
        .iter()
        .map(|e| {
            let (v, s) = m.get_weight(&e.name).unwrap();
            (e.name.clone(), to_f64(v, s))
        })
        .collect()
}

fn fast_grads(m: &Model) -> BTreeMap<String, ArrayD<f64>> {
    m.entries().iter().map(|e| (e.name.clone(), to_f64(m.get_grad(&e.name).unwrap(), &e.shape))).collect()
}

/// The whole check of one model on one batch: inference, `steps` training steps (gradients, update) on the model
/// and on a twin trained with `train_step`.
fn check_model(config: ModelConfig, threads: usize, data: &Batch, steps: usize, weights_seed: u64, twin_input_grad: bool) -> Result<(), TestCaseError> {
    let (x, y) = (data.x(), data.y());
    let mut model = Model::new(config.clone(), threads).unwrap();
    randomize(&mut model, &mut Lcg(weights_seed));
    model.compute_input_grad = true;
    model.check_dataset(&x, &y).unwrap();
    let mut twin = Model::new(config.clone(), threads).unwrap();
    copy_weights(&model, &mut twin);
    twin.compute_input_grad = twin_input_grad;
    twin.check_dataset(&x, &y).unwrap();
    let (rx, ry) = (data.reference_x(), data.reference_y());
    let b = data.x_shape[0];

    // Inference: predict and evaluate, in one batch and in batches of a third (other batch sizes, other paths).
    let reference = Sequential::from_model(&model);
    let want = reference.predict(&rx);
    for batch in [b, b.div_ceil(3)] {
        let (out, shape) = model.predict(&x, batch).unwrap();
        prop_assert_eq!(shape.as_slice(), want.shape());
        close_t(&format!("predict (batch {batch})"), &out, &want)?;
    }
    let f = reference.forward(&rx, Mode::Inference, None);
    let (want_loss, _, _) = reference.loss(&f, &ry);
    let eval = model.evaluate(&x, &y, b).unwrap();
    close("evaluate loss", &[eval.loss as f32], &[want_loss], 0.0, 1e-4, 1e-6)?;

    let mut ref_opt = RefOptimizer::new(config.optimizer.clone().unwrap());
    for step in 0..steps {
        // Gradients at this step's dropout masks.
        let reference = Sequential::from_model(&model);
        let want = reference.gradients(&rx, &ry, Mode::Training { step: model.step() });
        model.zero_grad();
        let stats = model.forward_backward(&x, &y).unwrap();
        close(&format!("step {step}: training loss"), &[stats.loss as f32], &[want.loss], 0.0, 1e-4, 1e-6)?;
        for (name, g) in &want.grads {
            close_t(&format!("step {step}: grad {name}"), model.get_grad(name).unwrap(), g)?;
        }
        if let Some(dx) = &want.input {
            close_t(&format!("step {step}: input grad"), model.input_grad(), dx)?;
        }
        // The update, from the fast path's gradients, stored (apply_gradients) and fused (the twin's train_step).
        let mut params = fast_params(&model);
        ref_opt.step(&mut params, &fast_grads(&model));
        model.apply_gradients().unwrap();
        let twin_stats = twin.train_step(&x, &y).unwrap();
        close(&format!("step {step}: train_step loss"), &[twin_stats.loss as f32], &[want.loss], 0.0, 1e-4, 1e-6)?;
        for (name, p) in &params {
            let p = p.as_slice().unwrap();
            close(&format!("step {step}: param {name} after apply_gradients"), model.get_weight(name).unwrap().0, p, 0.0, UPD_REL, UPD_ABS)?;
            close(&format!("step {step}: param {name} after train_step"), twin.get_weight(name).unwrap().0, p, 0.0, UPD_REL, TWIN_ABS)?;
        }
        // Both start the next step from the same weights.
        copy_weights(&model, &mut twin);
    }
    Ok(())
}

fn output_shape(config: &ModelConfig, b: usize, t: usize) -> Vec<usize> {
    let m = Model::new(config.clone(), 1).unwrap();
    m.layer_output_shapes(b, Some(t)).last().unwrap().dims()
}

/// Every layer together, at random shapes, through every fast path the shape selects.
#[test]
fn models_match_reference() {
    run("models_match_reference", MODEL_CASES, (spec_strategy(), any::<u64>()), |(spec, data_seed)| {
        let config = spec.config();
        let out = output_shape(&config, spec.b, spec.t);
        let r = &mut Lcg(data_seed);
        let data = batch(r, &spec.input, spec.b, spec.t, &out, spec.loss().1);
        check_model(config, spec.threads, &data, spec.steps, data_seed ^ 0x5eed, spec.twin_input_grad)
    });
}

/// The losses and output activations on their own: Dense layers on `[B,F]` (or on `[B,T,F]` averaged over time, so
/// that probabilities reach the loss through a layer that is not a Dense: the clipped-probability forms), with a
/// Dropout between, every activation of the hidden layer, every loss and `fromLogits`.
fn loss_case() -> impl Strategy<Value = (String, usize, Option<usize>, usize, Target)> {
    let flat = (1usize..10, 1usize..24, 0usize..5, 1usize..8, 0usize..5, 0usize..4, prop_oneof![Just(0.0f32), Just(0.3f32)]).prop_map(
        |(features, hidden, hidden_act, units, out_act, pick, rate)| {
            let out_act = ACTS[out_act];
            let units = if out_act == "softmax" { units.max(2) } else { units };
            let options = losses_for(out_act);
            let (loss, target) = options[pick % options.len()];
            let layers = format!(
                r#"[{{"type":"dense","units":{hidden},"activation":"{}","inputShape":[{features}]}},{{"type":"dropout","rate":{rate}}},{{"type":"dense","units":{units},"activation":"{out_act}"}}]"#,
                ACTS[hidden_act]
            );
            (format!(r#""layers": {layers}, "loss": {loss}"#), features, None, units, target)
        },
    );
    let pooled = (1usize..6, 1usize..6, 2usize..7, any::<bool>(), 0usize..3).prop_map(|(features, t, units, softmax, pick)| {
        let (act, loss, target) = match (softmax, pick) {
            (true, 0) => ("softmax", r#""sparse_categorical_crossentropy""#, Target::Labels),
            (true, 1) => ("softmax", r#""categorical_crossentropy""#, Target::Distribution),
            (false, 0 | 1) => ("sigmoid", r#""binary_crossentropy""#, Target::Binary),
            _ => ("sigmoid", r#""mse""#, Target::Real),
        };
        let layers = format!(r#"[{{"type":"dense","units":{units},"activation":"{act}","inputShape":[{t},{features}]}},{{"type":"globalAveragePooling1d"}}]"#);
        (format!(r#""layers": {layers}, "loss": {loss}"#), features, Some(t), units, target)
    });
    prop_oneof![3 => flat, 1 => pooled]
}

/// A next-word model at batch-1 shapes: at most 4 rows per step, so weight gradients stay low-rank and backward
/// updates W_hh (one forward sequence of 2+ steps, no mask, no dropout) and W_ih (when dx is wanted) itself; stacked
/// LSTMs (the second one's dx is wanted), an optional embedding, dropout in some layers (which turns the inline
/// updates off), and no clipping in most cases (clipping needs whole gradients: the stored path).
fn next_word_case() -> impl Strategy<Value = (String, InputSpec, usize, usize)> {
    let input = prop_oneof![
        (2usize..30, 1usize..9).prop_map(|(vocab, dim)| InputSpec::Tokens { vocab, dim, mask_zero: false, zeros_pct: 0 }),
        Just(InputSpec::Floats { features: 1 }),
    ];
    let dropout = prop_oneof![4 => Just((0.0f32, 0.0f32)), 1 => Just((0.2f32, 0.0f32)), 1 => Just((0.0f32, 0.25f32))];
    let opt = prop_oneof![
        Just(r#"{"type":"rmsprop","learningRate":0.01,"epsilon":1e-10}"#.to_string()),
        Just(r#"{"type":"rmsprop","learningRate":0.01,"momentum":0.9}"#.to_string()),
        Just(r#"{"type":"adam","learningRate":0.01}"#.to_string()),
        Just(r#"{"type":"sgd","learningRate":0.1,"momentum":0.9,"nesterov":true}"#.to_string()),
        Just(r#"{"type":"sgd","learningRate":0.1}"#.to_string()),
        optimizer_strategy(),
    ];
    (input, 1usize..=4, 1usize..=4, 1usize..48, 1usize..24, dropout, 2usize..12, any::<bool>(), opt).prop_filter_map(
        "at most 4 rows",
        |(input, b, t, h1, h2, (d, rd), classes, logits, opt)| {
            if b * t > 4 {
                return None;
            }
            let first_shape = match input {
                InputSpec::Floats { features } => format!(r#","inputShape":[{t},{features}]"#),
                _ => String::new(),
            };
            let mut layers = Vec::new();
            if let InputSpec::Tokens { vocab, dim, .. } = input {
                layers.push(format!(r#"{{"type":"embedding","inputDim":{vocab},"outputDim":{dim}}}"#));
            }
            layers.push(format!(r#"{{"type":"lstm","units":{h1},"returnSequences":true{first_shape}}}"#));
            layers.push(format!(r#"{{"type":"lstm","units":{h2},"dropout":{d},"recurrentDropout":{rd}}}"#));
            let (act, loss) = if logits {
                ("linear", r#"{"type":"sparse_categorical_crossentropy","fromLogits":true}"#)
            } else {
                ("softmax", r#""sparse_categorical_crossentropy""#)
            };
            layers.push(format!(r#"{{"type":"dense","units":{classes},"activation":"{act}"}}"#));
            Some((format!(r#""layers": [{}], "loss": {loss}, "optimizer": {opt}"#, layers.join(",")), input, b, t))
        },
    )
}

/// Stateful inference: a stack of one-way recurrent layers of every kind (after a Conv1D of kernel size 1 in some
/// cases) stepped through a sequence a few steps at a time.
fn stateful_case() -> impl Strategy<Value = (String, InputSpec, usize, Vec<usize>)> {
    let input = prop_oneof![
        (2usize..30, 1usize..9, any::<bool>(), 0u32..40).prop_map(|(vocab, dim, mask_zero, zeros_pct)| InputSpec::Tokens { vocab, dim, mask_zero, zeros_pct }),
        (1usize..6).prop_map(|features| InputSpec::Floats { features }),
    ];
    let first = (kind_strategy(), 1usize..32);
    let second = proptest::option::of((kind_strategy(), 1usize..16));
    let conv = proptest::option::of((1usize..8, 0usize..5));
    (input, batch_strategy(), first, second, conv, proptest::collection::vec(1usize..=3, 1..5), 0usize..5).prop_map(
        |(input, b, (k1, h1), h2, conv, chunks, act)| {
            let first_shape = match input {
                InputSpec::Floats { features } => format!(r#","inputShape":[null,{features}]"#),
                _ => String::new(),
            };
            let mut layers = Vec::new();
            if let InputSpec::Tokens { vocab, dim, mask_zero, .. } = input {
                layers.push(format!(r#"{{"type":"embedding","inputDim":{vocab},"outputDim":{dim},"maskZero":{mask_zero}}}"#));
            }
            // A Conv1D reads one step per output (kernel 1, stride 1): it can be stepped.
            let first_shape = match conv {
                Some((filters, a)) => {
                    layers.push(format!(r#"{{"type":"conv1d","filters":{filters},"kernelSize":1,"activation":"{}"{first_shape}}}"#, ACTS[a]));
                    String::new()
                }
                None => first_shape,
            };
            let (kind, extra) = k1.json();
            layers.push(format!(r#"{{"type":"{kind}","units":{h1},"returnSequences":{}{extra}{first_shape}}}"#, h2.is_some()));
            if let Some((k2, h2)) = h2 {
                let (kind, extra) = k2.json();
                layers.push(format!(r#"{{"type":"{kind}","units":{h2}{extra}}}"#));
            }
            layers.push(format!(r#"{{"type":"dense","units":5,"activation":"{}"}}"#, ACTS[act]));
            (format!(r#""layers": [{}]"#, layers.join(",")), input, b, chunks)
        },
    )
}

fn parse(body: &str, seed: u64) -> ModelConfig {
    let json = format!("{{{body}, \"seed\": {seed}}}");
    ModelConfig::from_json(&json).unwrap_or_else(|e| panic!("{e}\n{json}"))
}

/// Every loss with every output activation, through the logits and the probability forms.
#[test]
fn losses_match_reference() {
    let cases = (loss_case(), batch_strategy(), 1usize..=3, optimizer_strategy(), any::<u64>());
    run("losses_match_reference", CASES, cases, |(case, b, threads, opt, seed)| {
        let (body, features, t, units, target) = case;
        let config = parse(&format!(r#"{body}, "optimizer": {opt}"#), seed);
        let r = &mut Lcg(seed);
        let (x_shape, out) = match t {
            Some(t) => (vec![b, t, features], vec![b, units]),
            None => (vec![b, features], vec![b, units]),
        };
        let floats: Vec<f32> = (0..x_shape.iter().product::<usize>()).map(|_| r.unit()).collect();
        let mut data = batch(r, &InputSpec::Floats { features }, b, 1, &out, target);
        (data.floats, data.x_shape) = (floats, x_shape);
        check_model(config, threads, &data, 2, seed ^ 0x1055, seed & 1 == 0)
    });
}

/// Batch-1 next-word steps: low-rank gradients formed inside the update, and LSTM weights updated inside backward,
/// over three steps of every optimizer.
#[test]
fn next_word_steps_match_reference() {
    let cases = (next_word_case(), 1usize..=3, any::<u64>(), any::<bool>());
    run("next_word_steps_match_reference", CASES, cases, |(case, threads, seed, twin_input_grad)| {
        let (body, input, b, t) = case;
        let config = parse(&body, seed);
        let out = output_shape(&config, b, t);
        let data = batch(&mut Lcg(seed), &input, b, t, &out, Target::Labels);
        check_model(config, threads, &data, 3, seed ^ 0x7e87, twin_input_grad)
    });
}

/// Every optimizer and option over three steps (Adam's bias correction past t = 1, momentum and Nesterov velocities,
/// RMSProp's momentum, clipnorm and clipvalue) on a small LSTM model, batches both sides of 4 rows.
#[test]
fn optimizers_match_reference() {
    let cases = (optimizer_strategy(), 1usize..=8, 1usize..=5, 1usize..20, 1usize..=3, any::<u64>());
    run("optimizers_match_reference", CASES, cases, |(opt, b, t, h, threads, seed)| {
        let body = format!(
            r#""layers": [{{"type":"lstm","units":{h},"inputShape":[{t},3]}},{{"type":"dense","units":4,"activation":"tanh"}}], "loss": "mse", "optimizer": {opt}"#
        );
        let config = parse(&body, seed);
        let data = batch(&mut Lcg(seed), &InputSpec::Floats { features: 3 }, b, t, &[b, 4], Target::Real);
        check_model(config, threads, &data, 3, seed ^ 0x0971, true)
    });
}

/// `predict_step` carries each recurrent layer's state (an LSTM's h and c, a GRU's or SimpleRNN's h) from call to
/// call (masked steps keep it): every call's output matches
/// the reference run from the same states, and after `reset_states` it starts from zeros again.
#[test]
fn stateful_steps_match_reference() {
    let cases = (stateful_case(), 1usize..=3, any::<u64>());
    run("stateful_steps_match_reference", CASES, cases, |(case, threads, seed)| {
        let (body, input, b, chunks) = case;
        let config = parse(&body, seed);
        let t: usize = chunks.iter().sum();
        let mut model = Model::new(config.clone(), threads).unwrap();
        let data = batch(&mut Lcg(seed), &input, b, t, &[b, 5], Target::Real);
        model.check_input(&data.x()).unwrap();
        randomize(&mut model, &mut Lcg(seed ^ 0x57a7e));
        let reference = Sequential::from_model(&model);
        for round in 0..2 {
            let mut states = vec![None; config.layers.len()];
            let mut t0 = 0;
            for &len in &chunks {
                // Steps t0..t0+len of every sample.
                let piece = |d: &Batch| -> Batch {
                    let row = d.x_shape[1..].iter().product::<usize>() / t;
                    let pick = |s: usize| (0..b).flat_map(move |bi| (bi * t + t0) * row + s..(bi * t + t0 + len) * row + s).step_by(1);
                    let mut x_shape = d.x_shape.clone();
                    x_shape[1] = len;
                    Batch {
                        tokens: if d.tokens.is_empty() { Vec::new() } else { pick(0).map(|k| d.tokens[k]).collect() },
                        floats: if d.floats.is_empty() { Vec::new() } else { pick(0).map(|k| d.floats[k]).collect() },
                        x_shape,
                        y_labels: Vec::new(),
                        y_floats: Vec::new(),
                        y_shape: Vec::new(),
                    }
                };
                let p = piece(&data);
                let (got, _) = model.predict_step(&p.x()).unwrap();
                let (want, next) = reference.predict_step(&p.reference_x(), &states);
                close_t(&format!("predict_step round {round}, steps {t0}..{}", t0 + len), &got, &want)?;
                states = next;
                t0 += len;
            }
            model.reset_states();
        }
        Ok(())
    });
}
