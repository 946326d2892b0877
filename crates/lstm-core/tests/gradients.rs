//! Finite-difference gradient checks for every layer and loss, at tiny sizes.
//!
//! For each case the analytic gradients of `Model::forward_backward` are compared with central differences
//! `(L(w+ε) - L(w-ε)) / 2ε` of the same training-mode loss, perturbing every parameter (or an evenly spaced subset
//! of the larger tensors) through `set_weight`, and every input value through the input for float inputs.
//!
//! Dropout: training mode draws its masks from a counter generator keyed by `model.step()`, which only
//! `apply_gradients` advances, so every forward pass at one step sees the same masks and the loss is a smooth
//! function of the weights; the checks run with dropout active (see `dropout_masks_are_fixed_within_a_step`).
//!
//! Tolerances suit f32 (the kernels also use a fast exp with ~3e-7 relative error): element-wise
//! |fd - analytic| <= 2e-3 + 2e-2·|fd|, and per tensor ||fd - analytic|| <= 2e-2·||fd|| + 1e-4 so small gradients
//! are held to a relative standard too.

use lstm_core::{Data, Model, ModelConfig};

const EPS: f32 = 1e-2;
const ATOL: f64 = 2e-3;
const RTOL: f64 = 2e-2;
/// At most this many elements are perturbed per tensor (evenly spaced, always including the first and last).
const MAX_PER_TENSOR: usize = 96;

mod common;
use common::Lcg;

#[derive(Clone)]
enum X {
    Tokens(Vec<i32>, Vec<usize>),
    Floats(Vec<f32>, Vec<usize>),
}
#[derive(Clone)]
enum Y {
    Labels(Vec<i32>, Vec<usize>),
    Floats(Vec<f32>, Vec<usize>),
}
impl X {
    fn data(&self) -> Data<'_> {
        match self {
            X::Tokens(v, s) => Data::Tokens(v, s),
            X::Floats(v, s) => Data::Floats(v, s),
        }
    }
}
impl Y {
    fn data(&self) -> Data<'_> {
        match self {
            Y::Labels(v, s) => Data::Tokens(v, s),
            Y::Floats(v, s) => Data::Floats(v, s),
        }
    }
}

struct Case {
    name: &'static str,
    /// `layers` JSON array and `loss` JSON value.
    layers: &'static str,
    loss: &'static str,
    x: X,
    y: Y,
    /// Parameters are set to uniform(-scale, scale) (biases included) before the check.
    scale: f32,
    /// ReLU makes the loss piecewise smooth: use a smaller ε and skip the elements where the one-sided differences
    /// disagree (a ReLU input within ε of 0), at most 10% of them.
    kinks: bool,
}

fn floats(r: &mut Lcg, shape: &[usize]) -> X {
    let n = shape.iter().product();
    X::Floats((0..n).map(|_| r.unit()).collect(), shape.to_vec())
}
fn tokens(r: &mut Lcg, shape: &[usize], vocab: usize) -> X {
    let n = shape.iter().product();
    X::Tokens((0..n).map(|_| r.below(vocab) as i32).collect(), shape.to_vec())
}
fn targets(r: &mut Lcg, shape: &[usize], lo: f32, hi: f32) -> Y {
    let n = shape.iter().product();
    Y::Floats((0..n).map(|_| lo + (hi - lo) * (r.unit() * 0.5 + 0.5)).collect(), shape.to_vec())
}
fn binary(r: &mut Lcg, shape: &[usize]) -> Y {
    let n = shape.iter().product();
    Y::Floats((0..n).map(|_| (r.next() & 1) as f32).collect(), shape.to_vec())
}
fn labels(r: &mut Lcg, shape: &[usize], classes: usize) -> Y {
    let n = shape.iter().product();
    Y::Labels((0..n).map(|_| r.below(classes) as i32).collect(), shape.to_vec())
}
/// Soft targets: each row a probability distribution.
fn distributions(r: &mut Lcg, rows: usize, classes: usize) -> Y {
    let mut v = Vec::new();
    for _ in 0..rows {
        let row: Vec<f32> = (0..classes).map(|_| r.unit() + 1.1).collect();
        let s: f32 = row.iter().sum();
        v.extend(row.iter().map(|x| x / s));
    }
    Y::Floats(v, vec![rows, classes])
}

fn build(case: &Case, seed: u64) -> Model {
    let json = format!(r#"{{"layers": {}, "loss": {}, "optimizer": {{"type": "sgd", "learningRate": 0.1}}, "seed": {seed}}}"#, case.layers, case.loss);
    let config = ModelConfig::from_json(&json).unwrap_or_else(|e| panic!("{}: {e}\n{json}", case.name));
    let mut model = Model::new(config, 1).unwrap_or_else(|e| panic!("{}: {e}", case.name));
    model.check_input(&case.x.data()).unwrap_or_else(|e| panic!("{}: {e}", case.name));
    let mut r = Lcg(seed ^ 0xabcdef);
    let entries: Vec<(String, Vec<usize>, usize)> = model.entries().iter().map(|e| (e.name.clone(), e.shape.clone(), e.range.len())).collect();
    for (name, shape, len) in entries {
        let v: Vec<f32> = (0..len).map(|_| r.unit() * case.scale).collect();
        model.set_weight(&name, &shape, &v).unwrap();
    }
    model.compute_input_grad = true;
    model
}

fn loss(model: &mut Model, x: &X, y: &Y) -> f64 {
    model.zero_grad();
    model.forward_backward(&x.data(), &y.data()).unwrap().loss
}

/// Indices to perturb in a tensor of `len` elements.
fn subset(len: usize) -> Vec<usize> {
    if len <= MAX_PER_TENSOR {
        return (0..len).collect();
    }
    let mut v: Vec<usize> = (0..MAX_PER_TENSOR).map(|k| k * (len - 1) / (MAX_PER_TENSOR - 1)).collect();
    v.dedup();
    v
}

#[derive(Default)]
struct Tally {
    checked: usize,
    skipped: usize,
    max_abs_err: f64,
    failures: Vec<String>,
}

impl Tally {
    /// Compares one tensor's analytic gradient with finite differences from `eval(k, delta)` (the loss with element
    /// k moved by delta; returns the loss and the actual f32 step taken).
    // `!(err <= tol)` rather than `err > tol`: a NaN must fail the comparison.
    #[allow(clippy::neg_cmp_op_on_partial_ord)]
    fn compare(&mut self, case: &Case, what: &str, analytic: &[f32], l0: f64, mut eval: impl FnMut(usize, f32) -> (f64, f64)) {
        let (mut num, mut den) = (0.0f64, 0.0f64);
        let eps = if case.kinks { EPS / 10.0 } else { EPS };
        for k in subset(analytic.len()) {
            let (lp, hp) = eval(k, eps);
            let (lm, hm) = eval(k, -eps);
            let fd = (lp - lm) / (hp - hm);
            let an = analytic[k] as f64;
            // One-sided differences disagree by about ε·|L''| on a smooth function; much more means a kink.
            let (dp, dm) = ((lp - l0) / hp, (l0 - lm) / -hm);
            if case.kinks && (dp - dm).abs() > 1e-3 + 0.05 * fd.abs() {
                self.skipped += 1;
                continue;
            }
            let err = (fd - an).abs();
            self.max_abs_err = self.max_abs_err.max(err);
            self.checked += 1;
            num += err * err;
            den += fd * fd;
            if !(err <= ATOL + RTOL * fd.abs()) {
                self.failures.push(format!("{}: {what}[{k}]: analytic {an:.6e}, finite difference {fd:.6e} (one-sided {dp:.4e} / {dm:.4e})", case.name));
            }
        }
        let (num, den) = (num.sqrt(), den.sqrt());
        if !(num <= RTOL * den + 1e-4) {
            self.failures.push(format!("{}: {what}: relative L2 error {:.3e} (|fd| = {den:.3e})", case.name, num / den.max(1e-30)));
        }
    }
}

/// Runs the whole check for one case and returns the tally.
fn check_case(case: &Case) -> Tally {
    let mut model = build(case, 7);
    let (x, y) = (case.x.clone(), case.y.clone());
    let l0 = loss(&mut model, &x, &y);
    assert!(l0.is_finite(), "{}: loss {l0}", case.name);
    // Same step, same masks: the loss must repeat exactly (checked on every case, dropout or not).
    assert_eq!(l0.to_bits(), loss(&mut model, &x, &y).to_bits(), "{}: the training loss is not repeatable within a step", case.name);
    let grads: Vec<(String, Vec<usize>, Vec<f32>)> =
        model.entries().iter().map(|e| (e.name.clone(), e.shape.clone(), model.grads()[e.range.clone()].to_vec())).collect();
    let input_grad = model.input_grad().to_vec();
    let mut tally = Tally::default();
    let mut largest = 0.0f32;
    for (name, shape, g) in &grads {
        largest = largest.max(g.iter().fold(0.0, |m, v| m.max(v.abs())));
        let orig = model.get_weight(name).unwrap().0.to_vec();
        let mut w = orig.clone();
        tally.compare(case, name, g, l0, |k, d| {
            w[k] = orig[k] + d;
            let step = (w[k] - orig[k]) as f64;
            model.set_weight(name, shape, &w).unwrap();
            let l = loss(&mut model, &x, &y);
            w[k] = orig[k];
            model.set_weight(name, shape, &w).unwrap();
            (l, step)
        });
    }
    assert!(largest > 1e-3, "{}: every gradient is ~0 ({largest}); the check would prove nothing", case.name);
    if let X::Floats(v, s) = &case.x {
        assert_eq!(input_grad.len(), v.len(), "{}: input gradient length", case.name);
        let mut xp = v.clone();
        tally.compare(case, "input", &input_grad, l0, |k, d| {
            xp[k] = v[k] + d;
            let step = (xp[k] - v[k]) as f64;
            let l = loss(&mut model, &X::Floats(xp.clone(), s.clone()), &y);
            xp[k] = v[k];
            (l, step)
        });
    }
    // The checks must not have disturbed the model: the loss is back to l0.
    assert_eq!(l0.to_bits(), loss(&mut model, &x, &y).to_bits(), "{}: weights not restored", case.name);
    if case.kinks {
        assert!(tally.skipped * 10 <= tally.checked, "{}: too many non-smooth points skipped ({} of {})", case.name, tally.skipped, tally.checked);
    } else {
        assert_eq!(tally.skipped, 0, "{}", case.name);
    }
    tally
}

fn run(cases: Vec<Case>) {
    let mut failures = Vec::new();
    for c in &cases {
        let t = check_case(c);
        println!("{:<44} {:>5} elements checked, {:>2} kinks skipped, max |fd - analytic| {:.2e}", c.name, t.checked, t.skipped, t.max_abs_err);
        failures.extend(t.failures);
    }
    assert!(failures.is_empty(), "{} gradient mismatches:\n{}", failures.len(), failures.join("\n"));
}

fn case(name: &'static str, layers: &'static str, loss: &'static str, x: X, y: Y) -> Case {
    Case { name, layers, loss, x, y, scale: 0.5, kinks: false }
}

// ---------------------------------------------------------------------------------------------------------------

#[test]
fn dense_activations_and_3d_inputs() {
    let r = &mut Lcg(1);
    let mut cases = vec![
        case("dense linear, mse", r#"[{"type":"dense","units":3,"inputShape":[4]}]"#, r#""mse""#, floats(r, &[5, 4]), targets(r, &[5, 3], -1.0, 1.0)),
        case(
            "dense sigmoid -> dense linear, mse",
            r#"[{"type":"dense","units":4,"activation":"sigmoid","inputShape":[3]},{"type":"dense","units":2}]"#,
            r#""mse""#,
            floats(r, &[4, 3]),
            targets(r, &[4, 2], -1.0, 1.0),
        ),
        case(
            "dense tanh -> dense tanh, mse",
            r#"[{"type":"dense","units":4,"activation":"tanh","inputShape":[3]},{"type":"dense","units":2,"activation":"tanh"}]"#,
            r#""mse""#,
            floats(r, &[4, 3]),
            targets(r, &[4, 2], -1.0, 1.0),
        ),
        case(
            "dense softmax (hidden) -> dense, mse",
            r#"[{"type":"dense","units":4,"activation":"softmax","inputShape":[3]},{"type":"dense","units":2}]"#,
            r#""mse""#,
            floats(r, &[4, 3]),
            targets(r, &[4, 2], -1.0, 1.0),
        ),
        case(
            "dense softmax output, mse (not fused)",
            r#"[{"type":"dense","units":4,"activation":"softmax","inputShape":[3]}]"#,
            r#""mse""#,
            floats(r, &[4, 3]),
            targets(r, &[4, 4], 0.0, 1.0),
        ),
        case(
            "dense sigmoid output, mse (not fused)",
            r#"[{"type":"dense","units":2,"activation":"sigmoid","inputShape":[3]}]"#,
            r#""mse""#,
            floats(r, &[4, 3]),
            targets(r, &[4, 2], 0.0, 1.0),
        ),
        case(
            "dense on 3-D input [B,T,F] tanh -> dense, mse",
            r#"[{"type":"dense","units":3,"activation":"tanh","inputShape":[4,2]},{"type":"dense","units":2}]"#,
            r#""mse""#,
            floats(r, &[3, 4, 2]),
            targets(r, &[3, 4, 2], -1.0, 1.0),
        ),
        case(
            "dense on 3-D input, softmax, sparse CE per step",
            r#"[{"type":"dense","units":4,"activation":"softmax","inputShape":[3,2]}]"#,
            r#""sparse_categorical_crossentropy""#,
            floats(r, &[2, 3, 2]),
            labels(r, &[2, 3], 4),
        ),
    ];
    let mut relu = case(
        "dense relu -> dense, mse",
        r#"[{"type":"dense","units":6,"activation":"relu","inputShape":[3]},{"type":"dense","units":2}]"#,
        r#""mse""#,
        floats(r, &[5, 3]),
        targets(r, &[5, 2], -1.0, 1.0),
    );
    relu.kinks = true;
    cases.push(relu);
    let mut relu3d = case(
        "dense relu on 3-D input",
        r#"[{"type":"dense","units":5,"activation":"relu","inputShape":[3,2]},{"type":"dense","units":1}]"#,
        r#""mse""#,
        floats(r, &[3, 3, 2]),
        targets(r, &[3, 3, 1], -1.0, 1.0),
    );
    relu3d.kinks = true;
    cases.push(relu3d);
    run(cases);
}

#[test]
fn embedding_and_dropout() {
    let r = &mut Lcg(2);
    run(vec![
        // Repeated tokens: the embedding gradient must accumulate over positions.
        case(
            "embedding -> dense on 3-D, mse",
            r#"[{"type":"embedding","inputDim":5,"outputDim":3},{"type":"dense","units":2,"activation":"tanh"}]"#,
            r#""mse""#,
            tokens(r, &[3, 6], 5),
            targets(r, &[3, 6, 2], -1.0, 1.0),
        ),
        case(
            "embedding -> lstm -> dense sigmoid, bce",
            r#"[{"type":"embedding","inputDim":7,"outputDim":3},{"type":"lstm","units":3},{"type":"dense","units":1,"activation":"sigmoid"}]"#,
            r#""binary_crossentropy""#,
            tokens(r, &[4, 5], 7),
            binary(r, &[4, 1]),
        ),
        case(
            "dense -> dropout(0.4) -> dense (training)",
            r#"[{"type":"dense","units":8,"activation":"tanh","inputShape":[3]},{"type":"dropout","rate":0.4},{"type":"dense","units":2}]"#,
            r#""mse""#,
            floats(r, &[6, 3]),
            targets(r, &[6, 2], -1.0, 1.0),
        ),
        case(
            "dropout as first layer on floats",
            r#"[{"type":"dropout","rate":0.3,"inputShape":[4]},{"type":"dense","units":2,"activation":"sigmoid"}]"#,
            r#""mse""#,
            floats(r, &[5, 4]),
            targets(r, &[5, 2], 0.0, 1.0),
        ),
        case(
            "embedding -> dropout -> lstm(seq) -> dropout -> dense 3-D",
            r#"[{"type":"embedding","inputDim":6,"outputDim":3},{"type":"dropout","rate":0.3},{"type":"lstm","units":3,"returnSequences":true},{"type":"dropout","rate":0.25},{"type":"dense","units":2}]"#,
            r#""mse""#,
            tokens(r, &[3, 4], 6),
            targets(r, &[3, 4, 2], -1.0, 1.0),
        ),
    ]);
}

#[test]
fn lstm_variants() {
    let r = &mut Lcg(3);
    run(vec![
        case(
            "lstm last state -> dense, mse",
            r#"[{"type":"lstm","units":3,"inputShape":[4,2]},{"type":"dense","units":2}]"#,
            r#""mse""#,
            floats(r, &[3, 4, 2]),
            targets(r, &[3, 2], -1.0, 1.0),
        ),
        case(
            "lstm as the last layer (seq), mse",
            r#"[{"type":"lstm","units":2,"returnSequences":true,"inputShape":[3,2]}]"#,
            r#""mse""#,
            floats(r, &[2, 3, 2]),
            targets(r, &[2, 3, 2], -1.0, 1.0),
        ),
        case(
            "lstm returnSequences -> dense 3-D",
            r#"[{"type":"lstm","units":3,"returnSequences":true,"inputShape":[5,2]},{"type":"dense","units":2}]"#,
            r#""mse""#,
            floats(r, &[3, 5, 2]),
            targets(r, &[3, 5, 2], -1.0, 1.0),
        ),
        case(
            "stacked lstm(seq) -> lstm -> dense",
            r#"[{"type":"lstm","units":3,"returnSequences":true,"inputShape":[4,2]},{"type":"lstm","units":2},{"type":"dense","units":1}]"#,
            r#""mse""#,
            floats(r, &[3, 4, 2]),
            targets(r, &[3, 1], -1.0, 1.0),
        ),
        case(
            "three stacked lstms, all sequences",
            r#"[{"type":"lstm","units":2,"returnSequences":true,"inputShape":[4,2]},{"type":"lstm","units":3,"returnSequences":true},{"type":"lstm","units":2,"returnSequences":true}]"#,
            r#""mse""#,
            floats(r, &[2, 4, 2]),
            targets(r, &[2, 4, 2], -1.0, 1.0),
        ),
        case(
            "bidirectional last -> dense",
            r#"[{"type":"lstm","units":3,"bidirectional":true,"inputShape":[4,2]},{"type":"dense","units":2}]"#,
            r#""mse""#,
            floats(r, &[3, 4, 2]),
            targets(r, &[3, 2], -1.0, 1.0),
        ),
        case(
            "bidirectional seq -> lstm -> dense",
            r#"[{"type":"lstm","units":2,"bidirectional":true,"returnSequences":true,"inputShape":[4,3]},{"type":"lstm","units":3},{"type":"dense","units":2}]"#,
            r#""mse""#,
            floats(r, &[3, 4, 3]),
            targets(r, &[3, 2], -1.0, 1.0),
        ),
        case(
            "bidirectional seq -> bidirectional last",
            r#"[{"type":"lstm","units":2,"bidirectional":true,"returnSequences":true,"inputShape":[3,2]},{"type":"lstm","units":2,"bidirectional":true},{"type":"dense","units":1}]"#,
            r#""mse""#,
            floats(r, &[2, 3, 2]),
            targets(r, &[2, 1], -1.0, 1.0),
        ),
        case(
            "sizes of 1: B=1 T=1 H=1 F=1",
            r#"[{"type":"lstm","units":1,"inputShape":[1,1]},{"type":"dense","units":1}]"#,
            r#""mse""#,
            floats(r, &[1, 1, 1]),
            targets(r, &[1, 1], -1.0, 1.0),
        ),
        case(
            "sizes of 1, sequences, bidirectional",
            r#"[{"type":"lstm","units":1,"returnSequences":true,"bidirectional":true,"inputShape":[1,1]}]"#,
            r#""mse""#,
            floats(r, &[1, 1, 1]),
            targets(r, &[1, 1, 2], -1.0, 1.0),
        ),
        case(
            "B=1 H=1 over T=6",
            r#"[{"type":"lstm","units":1,"returnSequences":true,"inputShape":[6,1]},{"type":"lstm","units":1},{"type":"dense","units":1,"activation":"sigmoid"}]"#,
            r#""binary_crossentropy""#,
            floats(r, &[1, 6, 1]),
            binary(r, &[1, 1]),
        ),
        case(
            "long sequence T=72",
            r#"[{"type":"lstm","units":3,"inputShape":[72,2]},{"type":"dense","units":1}]"#,
            r#""mse""#,
            floats(r, &[2, 72, 2]),
            targets(r, &[2, 1], -1.0, 1.0),
        ),
        case(
            "long sequence T=64, bidirectional seq",
            r#"[{"type":"lstm","units":2,"bidirectional":true,"returnSequences":true,"inputShape":[64,1]},{"type":"dense","units":1}]"#,
            r#""mse""#,
            floats(r, &[2, 64, 1]),
            targets(r, &[2, 64, 1], -1.0, 1.0),
        ),
    ]);
}

/// Token rows with padding (id 0) before, after and inside the sequence, and one row of padding only.
fn padded_tokens(vocab: usize) -> X {
    let rows: [[i32; 6]; 4] = [[0, 0, 3, 1, 4, 2], [5, 2, 3, 0, 0, 0], [1, 0, 2, 0, 3, 4], [0, 0, 0, 0, 0, 0]];
    let v: Vec<i32> = rows.iter().flatten().map(|&t| t.min(vocab as i32 - 1)).collect();
    X::Tokens(v, vec![4, 6])
}

#[test]
fn mask_zero() {
    let r = &mut Lcg(4);
    run(vec![
        case(
            "maskZero -> lstm -> dense sigmoid, bce",
            r#"[{"type":"embedding","inputDim":6,"outputDim":3,"maskZero":true},{"type":"lstm","units":3},{"type":"dense","units":1,"activation":"sigmoid"}]"#,
            r#""binary_crossentropy""#,
            padded_tokens(6),
            binary(r, &[4, 1]),
        ),
        case(
            "maskZero through stacked lstms and a dropout",
            r#"[{"type":"embedding","inputDim":6,"outputDim":3,"maskZero":true},{"type":"lstm","units":3,"returnSequences":true},{"type":"dropout","rate":0.3},{"type":"lstm","units":2,"returnSequences":true},{"type":"lstm","units":2},{"type":"dense","units":1}]"#,
            r#""mse""#,
            padded_tokens(6),
            targets(r, &[4, 1], -1.0, 1.0),
        ),
        case(
            "maskZero -> lstm seq -> dense 3-D (masked steps repeat h)",
            r#"[{"type":"embedding","inputDim":6,"outputDim":2,"maskZero":true},{"type":"lstm","units":3,"returnSequences":true},{"type":"dense","units":2}]"#,
            r#""mse""#,
            padded_tokens(6),
            targets(r, &[4, 6, 2], -1.0, 1.0),
        ),
        case(
            "maskZero -> bidirectional seq -> bidirectional last",
            r#"[{"type":"embedding","inputDim":6,"outputDim":3,"maskZero":true},{"type":"lstm","units":2,"bidirectional":true,"returnSequences":true},{"type":"lstm","units":2,"bidirectional":true},{"type":"dense","units":1}]"#,
            r#""mse""#,
            padded_tokens(6),
            targets(r, &[4, 1], -1.0, 1.0),
        ),
        case(
            "maskZero -> bidirectional seq -> dense 3-D (masked steps output 0)",
            r#"[{"type":"embedding","inputDim":6,"outputDim":2,"maskZero":true},{"type":"lstm","units":2,"bidirectional":true,"returnSequences":true},{"type":"dense","units":2}]"#,
            r#""mse""#,
            padded_tokens(6),
            targets(r, &[4, 6, 2], -1.0, 1.0),
        ),
        case(
            "maskZero with lstm dropout and recurrentDropout",
            r#"[{"type":"embedding","inputDim":6,"outputDim":3,"maskZero":true},{"type":"lstm","units":3,"dropout":0.3,"recurrentDropout":0.3,"returnSequences":true},{"type":"lstm","units":2,"recurrentDropout":0.2},{"type":"dense","units":1}]"#,
            r#""mse""#,
            padded_tokens(6),
            targets(r, &[4, 1], -1.0, 1.0),
        ),
    ]);
}

/// Global pooling over an LSTM's sequence: the mean over the steps the mask keeps, the maximum over every step.
#[test]
fn global_pooling() {
    let r = &mut Lcg(6);
    let mut cases = vec![
        case(
            "lstm seq -> average pooling -> dense (floats)",
            r#"[{"type":"lstm","units":3,"returnSequences":true,"inputShape":[5,2]},{"type":"globalAveragePooling1d"},{"type":"dense","units":2}]"#,
            r#""mse""#,
            floats(r, &[3, 5, 2]),
            targets(r, &[3, 2], -1.0, 1.0),
        ),
        case(
            "maskZero -> lstm seq -> masked average -> dense sigmoid",
            r#"[{"type":"embedding","inputDim":6,"outputDim":3,"maskZero":true},{"type":"lstm","units":3,"returnSequences":true},{"type":"globalAveragePooling1d"},{"type":"dense","units":1,"activation":"sigmoid"}]"#,
            r#""binary_crossentropy""#,
            padded_tokens(6),
            binary(r, &[4, 1]),
        ),
        case(
            "maskZero -> bidirectional seq (dropouts) -> masked average",
            r#"[{"type":"embedding","inputDim":6,"outputDim":3,"maskZero":true},{"type":"lstm","units":2,"bidirectional":true,"returnSequences":true,"dropout":0.3,"recurrentDropout":0.3},{"type":"globalAveragePooling1d"},{"type":"dense","units":1}]"#,
            r#""mse""#,
            padded_tokens(6),
            targets(r, &[4, 1], -1.0, 1.0),
        ),
        case(
            "average pooling first, on floats",
            r#"[{"type":"globalAveragePooling1d","inputShape":[4,3]},{"type":"dense","units":2,"activation":"tanh"}]"#,
            r#""mse""#,
            floats(r, &[3, 4, 3]),
            targets(r, &[3, 2], -1.0, 1.0),
        ),
    ];
    let max_cases = [
        case(
            "lstm seq -> max pooling -> dense (floats)",
            r#"[{"type":"lstm","units":3,"returnSequences":true,"inputShape":[5,2]},{"type":"globalMaxPooling1d"},{"type":"dense","units":2}]"#,
            r#""mse""#,
            floats(r, &[3, 5, 2]),
            targets(r, &[3, 2], -1.0, 1.0),
        ),
        case(
            "maskZero -> bidirectional seq -> max pooling (mask ignored) -> dense",
            r#"[{"type":"embedding","inputDim":6,"outputDim":3,"maskZero":true},{"type":"lstm","units":3,"bidirectional":true,"returnSequences":true},{"type":"globalMaxPooling1d"},{"type":"dropout","rate":0.2},{"type":"dense","units":1,"activation":"sigmoid"}]"#,
            r#""binary_crossentropy""#,
            padded_tokens(6),
            binary(r, &[4, 1]),
        ),
    ];
    // The maximum is not differentiable where two steps tie: the check skips the few such points.
    cases.extend(max_cases.into_iter().map(|c| Case { kinks: true, ..c }));
    run(cases);
}

#[test]
fn lstm_dropout_and_recurrent_dropout() {
    let r = &mut Lcg(5);
    run(vec![
        case(
            "lstm dropout 0.4 (input mask) on floats",
            r#"[{"type":"lstm","units":3,"dropout":0.4,"inputShape":[4,3]},{"type":"dense","units":1}]"#,
            r#""mse""#,
            floats(r, &[4, 4, 3]),
            targets(r, &[4, 1], -1.0, 1.0),
        ),
        case(
            "lstm recurrentDropout 0.4",
            r#"[{"type":"lstm","units":3,"recurrentDropout":0.4,"returnSequences":true,"inputShape":[5,2]},{"type":"dense","units":1}]"#,
            r#""mse""#,
            floats(r, &[4, 5, 2]),
            targets(r, &[4, 5, 1], -1.0, 1.0),
        ),
        case(
            "IMDB-like (tanh): emb -> dropout -> lstm(dropout, recDropout) -> dense -> dropout -> dense sigmoid",
            r#"[{"type":"embedding","inputDim":9,"outputDim":4},{"type":"dropout","rate":0.2},{"type":"lstm","units":4,"dropout":0.25,"recurrentDropout":0.25},{"type":"dense","units":1,"activation":"tanh"},{"type":"dropout","rate":0.3},{"type":"dense","units":1,"activation":"sigmoid"}]"#,
            r#""binary_crossentropy""#,
            tokens(r, &[5, 6], 9),
            binary(r, &[5, 1]),
        ),
        case(
            "bidirectional with dropout and recurrentDropout",
            r#"[{"type":"lstm","units":2,"bidirectional":true,"returnSequences":true,"dropout":0.3,"recurrentDropout":0.3,"inputShape":[4,3]},{"type":"lstm","units":2,"bidirectional":true,"dropout":0.2,"recurrentDropout":0.2},{"type":"dense","units":1}]"#,
            r#""mse""#,
            floats(r, &[3, 4, 3]),
            targets(r, &[3, 1], -1.0, 1.0),
        ),
    ]);
    let mut relu = case(
        "IMDB-like with dense relu",
        r#"[{"type":"embedding","inputDim":9,"outputDim":4},{"type":"dropout","rate":0.2},{"type":"lstm","units":4,"dropout":0.25,"recurrentDropout":0.25},{"type":"dense","units":6,"activation":"relu"},{"type":"dropout","rate":0.3},{"type":"dense","units":1,"activation":"sigmoid"}]"#,
        r#""binary_crossentropy""#,
        tokens(r, &[5, 6], 9),
        binary(r, &[5, 1]),
    );
    relu.kinks = true;
    run(vec![relu]);
}

/// Batches above `SMALL` (4) take the packed kernel on AVX-512 CPUs, whose backward forms dx in the same per-step
/// product as the recurrent gradient: checked through the layers below it (a first LSTM, an embedding).
#[test]
fn batches_above_small_take_the_packed_path() {
    let r = &mut Lcg(9);
    let rows: [[i32; 5]; 6] = [[0, 0, 3, 1, 4], [5, 2, 3, 0, 0], [1, 0, 2, 0, 3], [0, 0, 0, 0, 0], [2, 2, 5, 1, 1], [0, 4, 4, 3, 1]];
    let padded = X::Tokens(rows.iter().flatten().copied().collect(), vec![6, 5]);
    run(vec![
        case(
            "batch 6: stacked bidirectional lstms with dropout and recurrentDropout",
            r#"[{"type":"lstm","units":3,"bidirectional":true,"returnSequences":true,"dropout":0.3,"recurrentDropout":0.3,"inputShape":[4,3]},{"type":"lstm","units":2,"bidirectional":true,"dropout":0.2,"recurrentDropout":0.2},{"type":"dense","units":1}]"#,
            r#""mse""#,
            floats(r, &[6, 4, 3]),
            targets(r, &[6, 1], -1.0, 1.0),
        ),
        case(
            "batch 6: maskZero emb -> lstm seq (dropout) -> lstm (recurrentDropout), sigmoid bce",
            r#"[{"type":"embedding","inputDim":6,"outputDim":3,"maskZero":true},{"type":"lstm","units":3,"dropout":0.3,"returnSequences":true},{"type":"lstm","units":2,"recurrentDropout":0.3},{"type":"dense","units":1,"activation":"sigmoid"}]"#,
            r#""binary_crossentropy""#,
            padded,
            binary(r, &[6, 1]),
        ),
        case(
            "batch 7: emb -> lstm seq -> lstm seq -> dense 3-D",
            r#"[{"type":"embedding","inputDim":8,"outputDim":3},{"type":"lstm","units":4,"returnSequences":true},{"type":"lstm","units":3,"returnSequences":true},{"type":"dense","units":2}]"#,
            r#""mse""#,
            tokens(r, &[7, 5], 8),
            targets(r, &[7, 5, 2], -1.0, 1.0),
        ),
    ]);
}

#[test]
fn losses() {
    let r = &mut Lcg(6);
    let mut cases = vec![
        case(
            "bce on sigmoid (fused with the activation)",
            r#"[{"type":"lstm","units":3,"inputShape":[3,2]},{"type":"dense","units":2,"activation":"sigmoid"}]"#,
            r#""binary_crossentropy""#,
            floats(r, &[4, 3, 2]),
            binary(r, &[4, 2]),
        ),
        case(
            "bce with soft targets on sigmoid",
            r#"[{"type":"dense","units":2,"activation":"sigmoid","inputShape":[3]}]"#,
            r#""binary_crossentropy""#,
            floats(r, &[4, 3]),
            targets(r, &[4, 2], 0.0, 1.0),
        ),
        case(
            "bce on softmax probabilities (not sigmoid)",
            r#"[{"type":"dense","units":3,"activation":"softmax","inputShape":[3]}]"#,
            r#""binary_crossentropy""#,
            floats(r, &[4, 3]),
            binary(r, &[4, 3]),
        ),
        case(
            "bce fromLogits on a linear output",
            r#"[{"type":"lstm","units":2,"inputShape":[3,2]},{"type":"dense","units":1}]"#,
            r#"{"type":"binary_crossentropy","fromLogits":true}"#,
            floats(r, &[4, 3, 2]),
            binary(r, &[4, 1]),
        ),
        case(
            "bce fromLogits on a tanh output",
            r#"[{"type":"dense","units":2,"activation":"tanh","inputShape":[3]}]"#,
            r#"{"type":"binary_crossentropy","fromLogits":true}"#,
            floats(r, &[4, 3]),
            binary(r, &[4, 2]),
        ),
        case(
            "sparse CE fromLogits",
            r#"[{"type":"lstm","units":3,"inputShape":[3,2]},{"type":"dense","units":4}]"#,
            r#"{"type":"sparse_categorical_crossentropy","fromLogits":true}"#,
            floats(r, &[5, 3, 2]),
            labels(r, &[5], 4),
        ),
        case(
            "sparse CE on softmax probabilities (fused)",
            r#"[{"type":"lstm","units":3,"inputShape":[3,2]},{"type":"dense","units":4,"activation":"softmax"}]"#,
            r#""sparse_categorical_crossentropy""#,
            floats(r, &[5, 3, 2]),
            labels(r, &[5], 4),
        ),
        case(
            "sparse CE with float class ids",
            r#"[{"type":"dense","units":3,"activation":"softmax","inputShape":[2]}]"#,
            r#""sparse_categorical_crossentropy""#,
            floats(r, &[4, 2]),
            Y::Floats(vec![0.0, 2.0, 1.0, 2.0], vec![4]),
        ),
        case(
            "sparse CE on sigmoid outputs (probabilities, not fused)",
            r#"[{"type":"dense","units":3,"activation":"sigmoid","inputShape":[2]}]"#,
            r#""sparse_categorical_crossentropy""#,
            floats(r, &[4, 2]),
            labels(r, &[4], 3),
        ),
        case(
            "sparse CE per step, words model",
            r#"[{"type":"embedding","inputDim":8,"outputDim":3},{"type":"lstm","units":3,"returnSequences":true},{"type":"dense","units":8,"activation":"softmax"}]"#,
            r#""sparse_categorical_crossentropy""#,
            tokens(r, &[2, 4], 8),
            labels(r, &[2, 4], 8),
        ),
        case(
            "categorical CE on softmax (fused), soft targets",
            r#"[{"type":"lstm","units":3,"inputShape":[3,2]},{"type":"dense","units":3,"activation":"softmax"}]"#,
            r#""categorical_crossentropy""#,
            floats(r, &[4, 3, 2]),
            distributions(r, 4, 3),
        ),
        case(
            "categorical CE fromLogits",
            r#"[{"type":"dense","units":3,"inputShape":[2]}]"#,
            r#"{"type":"categorical_crossentropy","fromLogits":true}"#,
            floats(r, &[4, 2]),
            distributions(r, 4, 3),
        ),
        case(
            "categorical CE on sigmoid outputs (not fused)",
            r#"[{"type":"dense","units":3,"activation":"sigmoid","inputShape":[2]}]"#,
            r#""categorical_crossentropy""#,
            floats(r, &[4, 2]),
            distributions(r, 4, 3),
        ),
        case(
            "mse on lstm -> dense tanh",
            r#"[{"type":"lstm","units":3,"inputShape":[3,2]},{"type":"dense","units":2,"activation":"tanh"}]"#,
            r#""mse""#,
            floats(r, &[4, 3, 2]),
            targets(r, &[4, 2], -1.0, 1.0),
        ),
    ];
    // The last layer is a dropout after a sigmoid: the loss sees probabilities it cannot fuse with.
    let mut c = case(
        "bce after sigmoid -> dropout (not fused)",
        r#"[{"type":"dense","units":2,"activation":"sigmoid","inputShape":[3]},{"type":"dropout","rate":0.2}]"#,
        r#""binary_crossentropy""#,
        floats(r, &[5, 3]),
        binary(r, &[5, 2]),
    );
    c.scale = 0.3;
    cases.push(c);
    run(cases);
}

/// The premise of the dropout checks: masks are a function of the step, fixed until `apply_gradients`.
#[test]
fn dropout_masks_are_fixed_within_a_step() {
    let r = &mut Lcg(8);
    let c = case(
        "dropout everywhere",
        r#"[{"type":"embedding","inputDim":9,"outputDim":4},{"type":"dropout","rate":0.3},{"type":"lstm","units":4,"dropout":0.3,"recurrentDropout":0.3},{"type":"dense","units":3,"activation":"tanh"},{"type":"dropout","rate":0.3},{"type":"dense","units":1,"activation":"sigmoid"}]"#,
        r#""binary_crossentropy""#,
        tokens(r, &[8, 6], 9),
        binary(r, &[8, 1]),
    );
    let mut model = build(&c, 3);
    let (x, y) = (c.x.clone(), c.y.clone());
    let a = loss(&mut model, &x, &y);
    let ga = model.grads().to_vec();
    let b = loss(&mut model, &x, &y);
    assert_eq!(a.to_bits(), b.to_bits(), "same step, same loss");
    assert_eq!(ga, model.grads(), "same step, same gradients");
    // Dropout is really on in training: inference gives another loss.
    let eval = model.evaluate(&x.data(), &y.data(), 64).unwrap().loss;
    assert_ne!(a, eval, "dropout is active in forward_backward");
    // A zero-gradient SGD update leaves the weights alone but advances the step: new masks, new loss.
    let before = model.params().to_vec();
    model.zero_grad();
    model.apply_gradients().unwrap();
    assert_eq!(model.step(), 1);
    assert_eq!(before, model.params());
    let c2 = loss(&mut model, &x, &y);
    assert_ne!(a, c2, "a new step draws new masks");
    assert_eq!(c2.to_bits(), loss(&mut model, &x, &y).to_bits());
    // Inference is unaffected by the step.
    assert_eq!(eval.to_bits(), model.evaluate(&x.data(), &y.data(), 64).unwrap().loss.to_bits());
}

/// Inference-mode losses (evaluate) agree with forward_backward when there is no dropout, batch by batch.
#[test]
fn evaluate_matches_training_loss_without_dropout() {
    let r = &mut Lcg(9);
    let c = case(
        "no dropout",
        r#"[{"type":"lstm","units":3,"returnSequences":true,"inputShape":[4,2]},{"type":"lstm","units":2},{"type":"dense","units":1,"activation":"sigmoid"}]"#,
        r#""binary_crossentropy""#,
        floats(r, &[6, 4, 2]),
        binary(r, &[6, 1]),
    );
    let mut model = build(&c, 5);
    let l = loss(&mut model, &c.x, &c.y);
    let e = model.evaluate(&c.x.data(), &c.y.data(), 6).unwrap().loss;
    assert!((l - e).abs() <= 1e-12 * l.abs(), "{l} vs {e}");
    // In batches of 4 and 2: a mean weighted by batch size is the same mean.
    let e2 = model.evaluate(&c.x.data(), &c.y.data(), 4).unwrap().loss;
    assert!((l - e2).abs() <= 1e-6 * l.abs(), "{l} vs {e2}");
}

/// GRU and SimpleRNN: last state and sequences, stacking, bidirectional, maskZero, dropout and recurrent dropout
/// (per-gate masks), every SimpleRNN activation, and batches above `SMALL` (blocks of samples per thread).
#[test]
fn gru_and_simple_rnn() {
    let r = &mut Lcg(11);
    let mut cases = vec![
        case(
            "gru last -> dense",
            r#"[{"type":"gru","units":3,"inputShape":[4,2]},{"type":"dense","units":2}]"#,
            r#""mse""#,
            floats(r, &[3, 4, 2]),
            targets(r, &[3, 2], -1.0, 1.0),
        ),
        case(
            "gru seq -> gru -> dense",
            r#"[{"type":"gru","units":3,"returnSequences":true,"inputShape":[4,2]},{"type":"gru","units":2},{"type":"dense","units":1}]"#,
            r#""mse""#,
            floats(r, &[3, 4, 2]),
            targets(r, &[3, 1], -1.0, 1.0),
        ),
        case(
            "gru bidirectional seq -> bidirectional last",
            r#"[{"type":"gru","units":2,"bidirectional":true,"returnSequences":true,"inputShape":[3,2]},{"type":"gru","units":2,"bidirectional":true},{"type":"dense","units":1}]"#,
            r#""mse""#,
            floats(r, &[2, 3, 2]),
            targets(r, &[2, 1], -1.0, 1.0),
        ),
        case(
            "maskZero -> gru seq -> dense 3-D (masked steps repeat h)",
            r#"[{"type":"embedding","inputDim":6,"outputDim":2,"maskZero":true},{"type":"gru","units":3,"returnSequences":true},{"type":"dense","units":2}]"#,
            r#""mse""#,
            padded_tokens(6),
            targets(r, &[4, 6, 2], -1.0, 1.0),
        ),
        case(
            "maskZero -> bidirectional gru seq -> masked average -> dense",
            r#"[{"type":"embedding","inputDim":6,"outputDim":3,"maskZero":true},{"type":"gru","units":2,"bidirectional":true,"returnSequences":true},{"type":"globalAveragePooling1d"},{"type":"dense","units":1}]"#,
            r#""mse""#,
            padded_tokens(6),
            targets(r, &[4, 1], -1.0, 1.0),
        ),
        case(
            "gru dropout 0.4 (shared input mask)",
            r#"[{"type":"gru","units":3,"dropout":0.4,"inputShape":[4,3]},{"type":"dense","units":1}]"#,
            r#""mse""#,
            floats(r, &[4, 4, 3]),
            targets(r, &[4, 1], -1.0, 1.0),
        ),
        case(
            "gru dropout + recurrentDropout (per-gate masks), bidirectional, maskZero",
            r#"[{"type":"embedding","inputDim":6,"outputDim":3,"maskZero":true},{"type":"gru","units":3,"bidirectional":true,"returnSequences":true,"dropout":0.3,"recurrentDropout":0.3},{"type":"gru","units":2,"recurrentDropout":0.25},{"type":"dense","units":1}]"#,
            r#""mse""#,
            padded_tokens(6),
            targets(r, &[4, 1], -1.0, 1.0),
        ),
        case(
            "batch 7: gru seq (dropouts) -> gru -> dense",
            r#"[{"type":"gru","units":4,"returnSequences":true,"dropout":0.2,"recurrentDropout":0.2,"inputShape":[5,3]},{"type":"gru","units":3},{"type":"dense","units":1}]"#,
            r#""mse""#,
            floats(r, &[7, 5, 3]),
            targets(r, &[7, 1], -1.0, 1.0),
        ),
        case(
            "simpleRnn tanh seq -> simpleRnn -> dense",
            r#"[{"type":"simpleRnn","units":3,"returnSequences":true,"inputShape":[4,2]},{"type":"simpleRnn","units":2},{"type":"dense","units":1}]"#,
            r#""mse""#,
            floats(r, &[3, 4, 2]),
            targets(r, &[3, 1], -1.0, 1.0),
        ),
        case(
            "simpleRnn sigmoid and linear",
            r#"[{"type":"simpleRnn","units":3,"activation":"sigmoid","returnSequences":true,"inputShape":[4,2]},{"type":"simpleRnn","units":2,"activation":"linear"},{"type":"dense","units":1}]"#,
            r#""mse""#,
            floats(r, &[3, 4, 2]),
            targets(r, &[3, 1], -1.0, 1.0),
        ),
        case(
            "maskZero -> bidirectional simpleRnn (dropouts) seq -> simpleRnn",
            r#"[{"type":"embedding","inputDim":6,"outputDim":3,"maskZero":true},{"type":"simpleRnn","units":2,"bidirectional":true,"returnSequences":true,"dropout":0.3,"recurrentDropout":0.3},{"type":"simpleRnn","units":2},{"type":"dense","units":1}]"#,
            r#""mse""#,
            padded_tokens(6),
            targets(r, &[4, 1], -1.0, 1.0),
        ),
        case(
            "batch 6: simpleRnn seq -> dense 3-D",
            r#"[{"type":"simpleRnn","units":4,"returnSequences":true,"inputShape":[4,3]},{"type":"dense","units":2}]"#,
            r#""mse""#,
            floats(r, &[6, 4, 3]),
            targets(r, &[6, 4, 2], -1.0, 1.0),
        ),
    ];
    let relu = case(
        "simpleRnn relu",
        r#"[{"type":"simpleRnn","units":4,"activation":"relu","inputShape":[4,2]},{"type":"dense","units":1}]"#,
        r#""mse""#,
        floats(r, &[3, 4, 2]),
        targets(r, &[3, 1], -1.0, 1.0),
    );
    cases.push(Case { kinks: true, ..relu });
    run(cases);
}

/// Conv1D with each padding, strides, dilation and activation, and MaxPooling1D (valid, same, strides apart from
/// the pool size), before recurrent layers and global poolings. ReLU and max make the loss piecewise smooth.
#[test]
fn conv1d_and_max_pooling1d() {
    let r = &mut Lcg(12);
    let cases = vec![
        case(
            "conv1d valid linear -> global average -> dense",
            r#"[{"type":"conv1d","filters":3,"kernelSize":3,"inputShape":[7,2]},{"type":"globalAveragePooling1d"},{"type":"dense","units":2}]"#,
            r#""mse""#,
            floats(r, &[3, 7, 2]),
            targets(r, &[3, 2], -1.0, 1.0),
        ),
        case(
            "conv1d same, strides 2, tanh -> dense 3-D",
            r#"[{"type":"conv1d","filters":3,"kernelSize":4,"strides":2,"padding":"same","activation":"tanh","inputShape":[7,2]},{"type":"dense","units":2}]"#,
            r#""mse""#,
            floats(r, &[2, 7, 2]),
            targets(r, &[2, 4, 2], -1.0, 1.0),
        ),
        case(
            "conv1d causal dilation 2 sigmoid -> gru",
            r#"[{"type":"conv1d","filters":3,"kernelSize":3,"padding":"causal","dilationRate":2,"activation":"sigmoid","inputShape":[6,2]},{"type":"gru","units":2},{"type":"dense","units":1}]"#,
            r#""mse""#,
            floats(r, &[3, 6, 2]),
            targets(r, &[3, 1], -1.0, 1.0),
        ),
        case(
            "conv1d valid strides 3 -> lstm",
            r#"[{"type":"conv1d","filters":2,"kernelSize":2,"strides":3,"activation":"tanh","inputShape":[8,3]},{"type":"lstm","units":2},{"type":"dense","units":1}]"#,
            r#""mse""#,
            floats(r, &[2, 8, 3]),
            targets(r, &[2, 1], -1.0, 1.0),
        ),
        case(
            "maskZero embedding -> conv1d same (mask dropped) -> simpleRnn",
            r#"[{"type":"embedding","inputDim":6,"outputDim":3,"maskZero":true},{"type":"conv1d","filters":3,"kernelSize":3,"padding":"same","activation":"tanh"},{"type":"simpleRnn","units":2},{"type":"dense","units":1}]"#,
            r#""mse""#,
            padded_tokens(6),
            targets(r, &[4, 1], -1.0, 1.0),
        ),
    ];
    let kinked = vec![
        case(
            "conv1d relu -> maxPooling1d 2 -> gru (the CNN+RNN block)",
            r#"[{"type":"conv1d","filters":4,"kernelSize":3,"activation":"relu","inputShape":[9,2]},{"type":"maxPooling1d"},{"type":"gru","units":3},{"type":"dense","units":1}]"#,
            r#""mse""#,
            floats(r, &[3, 9, 2]),
            targets(r, &[3, 1], -1.0, 1.0),
        ),
        case(
            "maxPooling1d 3 strides 2 same on floats -> dense 3-D",
            r#"[{"type":"maxPooling1d","poolSize":3,"strides":2,"padding":"same","inputShape":[7,3]},{"type":"dense","units":2,"activation":"tanh"}]"#,
            r#""mse""#,
            floats(r, &[3, 7, 3]),
            targets(r, &[3, 4, 2], -1.0, 1.0),
        ),
        case(
            "conv1d causal -> maxPooling1d 2 strides 1 -> global max -> dense",
            r#"[{"type":"conv1d","filters":3,"kernelSize":2,"padding":"causal","inputShape":[6,2]},{"type":"maxPooling1d","poolSize":2,"strides":1},{"type":"globalMaxPooling1d"},{"type":"dense","units":2}]"#,
            r#""mse""#,
            floats(r, &[3, 6, 2]),
            targets(r, &[3, 2], -1.0, 1.0),
        ),
        case(
            "batch 6: emb -> conv1d relu same -> maxPooling1d 2 same -> lstm",
            r#"[{"type":"embedding","inputDim":8,"outputDim":3},{"type":"conv1d","filters":4,"kernelSize":3,"padding":"same","activation":"relu"},{"type":"maxPooling1d","padding":"same"},{"type":"lstm","units":3},{"type":"dense","units":1,"activation":"sigmoid"}]"#,
            r#""binary_crossentropy""#,
            tokens(r, &[6, 7], 8),
            binary(r, &[6, 1]),
        ),
    ];
    let mut all = cases;
    all.extend(kinked.into_iter().map(|c| Case { kinks: true, ..c }));
    run(all);
}
