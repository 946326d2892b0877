//! Determinism: the same seed gives bit-identical weights, losses and predictions, and so does any thread count.
//! Work is split by output element (GEMM rows or columns, samples of the LSTM time loop, columns of the bias sums)
//! and dropout masks come from a counter generator, so no sum's order depends on the number of threads.

use lstm_core::{Data, Model, ModelConfig};

mod common;
use common::Lcg;

/// embedding → dropout → LSTM(dropout, recurrentDropout) → dense relu → dropout → dense sigmoid.
const IMDB: &str = r#"[
    {"type":"embedding","inputDim":400,"outputDim":16,"maskZero":true},
    {"type":"dropout","rate":0.2},
    {"type":"lstm","units":24,"dropout":0.2,"recurrentDropout":0.2},
    {"type":"dense","units":16,"activation":"relu"},
    {"type":"dropout","rate":0.5},
    {"type":"dense","units":1,"activation":"sigmoid"}]"#;

/// Bidirectional over stacked layers, with every kind of dropout, and a wide dense so the column split of
/// `par_gemm` runs on small batches.
const BI_STACKED: &str = r#"[
    {"type":"embedding","inputDim":300,"outputDim":12},
    {"type":"lstm","units":16,"bidirectional":true,"returnSequences":true,"dropout":0.1,"recurrentDropout":0.3},
    {"type":"dropout","rate":0.25},
    {"type":"lstm","units":20,"returnSequences":true,"recurrentDropout":0.2},
    {"type":"lstm","units":32,"bidirectional":true,"dropout":0.2},
    {"type":"dense","units":320,"activation":"tanh"},
    {"type":"dropout","rate":0.3},
    {"type":"dense","units":5,"activation":"softmax"}]"#;

fn model(layers: &str, loss: &str, seed: u64, threads: usize) -> Model {
    let json = format!(r#"{{"layers": {layers}, "loss": {loss}, "optimizer": {{"type":"adam","learningRate":0.01}}, "seed": {seed}}}"#);
    Model::new(ModelConfig::from_json(&json).unwrap(), threads).unwrap()
}

/// Token rows of length `t` with some zero padding at the front, as padSequences makes them.
fn tokens(r: &mut Lcg, n: usize, t: usize, vocab: usize) -> Vec<i32> {
    let mut v = Vec::with_capacity(n * t);
    for _ in 0..n {
        let pad = r.below(t / 2);
        v.extend((0..t).map(|k| if k < pad { 0 } else { 1 + r.below(vocab - 1) as i32 }));
    }
    v
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// A trace of a short training run: per-step losses, the final weights, predictions and the evaluation.
#[derive(Debug, PartialEq)]
struct Trace {
    initial: Vec<u32>,
    losses: Vec<u64>,
    weights: Vec<u32>,
    predictions: Vec<u32>,
    eval: (u64, u64),
}

/// `steps` training steps over shuffled batches of `batch` rows (as fit does), then predict and evaluate.
fn train(m: &mut Model, x: &Data, y: &Data, batch: usize, steps: usize) -> Trace {
    let initial = bits(m.params());
    m.check_dataset(x, y).unwrap();
    let n = x.shape()[0];
    let mut losses = Vec::new();
    let mut epoch = 0;
    'outer: loop {
        let order = m.epoch_order(n, epoch).unwrap();
        for rows in order.chunks(batch) {
            if losses.len() == steps {
                break 'outer;
            }
            let s = m.train_rows(x, y, rows).unwrap();
            assert!(s.loss.is_finite());
            losses.push(s.loss.to_bits());
        }
        epoch += 1;
    }
    // One more step through the other entry point.
    losses.push(m.train_step(x, y).unwrap().loss.to_bits());
    let (pred, _) = m.predict(x, batch).unwrap();
    let e = m.evaluate(x, y, batch).unwrap();
    Trace { initial, losses, weights: bits(m.params()), predictions: bits(&pred), eval: (e.loss.to_bits(), e.accuracy.to_bits()) }
}

fn imdb_data(n: usize, t: usize) -> (Vec<i32>, Vec<usize>, Vec<f32>, Vec<usize>) {
    let r = &mut Lcg(42);
    let x = tokens(r, n, t, 400);
    let y: Vec<f32> = (0..n).map(|_| (r.next() & 1) as f32).collect();
    (x, vec![n, t], y, vec![n, 1])
}

#[test]
fn same_seed_same_everything() {
    let (x, xs, y, ys) = imdb_data(48, 20);
    let (x, y) = (Data::Tokens(&x, &xs), Data::Floats(&y, &ys));
    let a = train(&mut model(IMDB, r#""binary_crossentropy""#, 11, 1), &x, &y, 16, 4);
    let b = train(&mut model(IMDB, r#""binary_crossentropy""#, 11, 1), &x, &y, 16, 4);
    assert_eq!(a, b);
    // Another seed: other initial weights, other masks, other shuffles.
    let c = train(&mut model(IMDB, r#""binary_crossentropy""#, 12, 1), &x, &y, 16, 4);
    assert_ne!(a.initial, c.initial);
    assert_ne!(a.losses, c.losses);
}

/// Runs the same training on 1 and 2 threads (and 3, more than the split has blocks for small tensors) and
/// requires bit-identical traces.
fn across_threads(layers: &str, loss: &str, x: &Data, y: &Data, batch: usize, steps: usize) {
    let one = train(&mut model(layers, loss, 5, 1), x, y, batch, steps);
    for threads in [2, 3] {
        let many = train(&mut model(layers, loss, 5, threads), x, y, batch, steps);
        assert_eq!(one.initial, many.initial, "initial weights differ on {threads} threads");
        for (s, (a, b)) in one.losses.iter().zip(&many.losses).enumerate() {
            assert_eq!(a, b, "step {s}: loss {} on 1 thread vs {} on {threads}", f64::from_bits(*a), f64::from_bits(*b));
        }
        if let Some(k) = one.weights.iter().zip(&many.weights).position(|(a, b)| a != b) {
            panic!("weight {k} differs on {threads} threads: {} vs {}", f32::from_bits(one.weights[k]), f32::from_bits(many.weights[k]));
        }
        assert_eq!(one.predictions, many.predictions, "predictions differ on {threads} threads");
        assert_eq!(one.eval, many.eval, "evaluation differs on {threads} threads");
    }
}

#[test]
fn imdb_like_one_vs_two_threads() {
    let (x, xs, y, ys) = imdb_data(96, 40);
    across_threads(IMDB, r#""binary_crossentropy""#, &Data::Tokens(&x, &xs), &Data::Floats(&y, &ys), 32, 5);
}

#[test]
fn imdb_like_odd_batch() {
    // 37 rows in batches of 13: blocks of 7 and 6 samples on two threads, and a last batch of 11.
    let (x, xs, y, ys) = imdb_data(37, 23);
    across_threads(IMDB, r#""binary_crossentropy""#, &Data::Tokens(&x, &xs), &Data::Floats(&y, &ys), 13, 6);
}

#[test]
fn bidirectional_stacked_one_vs_two_threads() {
    let r = &mut Lcg(7);
    let (n, t) = (21, 17);
    let x = tokens(r, n, t, 300);
    let y: Vec<i32> = (0..n).map(|_| r.below(5) as i32).collect();
    let (xs, ys) = ([n, t], [n]);
    // Batches of 5 and a last one of 1: small row counts take the column split of the dense GEMMs.
    across_threads(BI_STACKED, r#""sparse_categorical_crossentropy""#, &Data::Tokens(&x, &xs), &Data::Tokens(&y, &ys), 5, 6);
}

#[test]
fn float_input_sequences_one_vs_two_threads() {
    // A float input with the input gradient on: the dx GEMMs split too.
    let r = &mut Lcg(9);
    let (n, t, f) = (19, 12, 7);
    let x: Vec<f32> = (0..n * t * f).map(|_| r.unit()).collect();
    let y: Vec<f32> = (0..n * t * 3).map(|_| r.unit()).collect();
    let layers = r#"[{"type":"lstm","units":40,"returnSequences":true,"dropout":0.2,"recurrentDropout":0.2,"inputShape":[12,7]},
                     {"type":"dropout","rate":0.1},{"type":"dense","units":64,"activation":"tanh"},{"type":"dense","units":3}]"#;
    let (xs, ys) = ([n, t, f], [n, t, 3]);
    let (xd, yd) = (Data::Floats(&x, &xs), Data::Floats(&y, &ys));
    across_threads(layers, r#""mse""#, &xd, &yd, 7, 5);
    let mut grads = Vec::new();
    for threads in [1, 2] {
        let mut m = model(layers, r#""mse""#, 5, threads);
        m.compute_input_grad = true;
        m.zero_grad();
        m.forward_backward(&xd, &yd).unwrap();
        grads.push((bits(m.grads()), bits(m.input_grad())));
    }
    assert_eq!(grads[0], grads[1], "gradients differ between 1 and 2 threads");
}

/// A training step over at most 4 rows (a batch-1 step of a short sequence) leaves its weight gradients as factors
/// that the optimizer forms on the fly, and backward updates some weights itself in their last product
/// (`lstm::InlineUpdates`: W_hh of the first float layer and of the last token layer, W_ih of the last token layer;
/// 40 and 36 units give 4H over 128, so those products run in several runs of rows). It must give exactly what the
/// stored gradients give (`forward_backward` then `apply_gradients`), for every optimizer, with dropout masks,
/// bidirectional layers and a dense on sequences, and the same on 1 and 2 threads.
#[test]
fn fused_small_steps_match_stored_gradients() {
    let float_layers = r#"[{"type":"lstm","units":40,"returnSequences":true,"inputShape":[3,1]},
                           {"type":"lstm","units":20,"dropout":0.2,"recurrentDropout":0.3},{"type":"dense","units":9}]"#;
    let token_layers = r#"[{"type":"embedding","inputDim":30,"outputDim":8},
                           {"type":"lstm","units":12,"bidirectional":true,"returnSequences":true,"dropout":0.1},
                           {"type":"dense","units":6,"activation":"tanh"},{"type":"lstm","units":36},{"type":"dense","units":9}]"#;
    let optimizers = [
        r#"{"type":"rmsprop","learningRate":0.01,"epsilon":1e-10}"#,
        r#"{"type":"rmsprop","learningRate":0.01,"momentum":0.9}"#,
        r#"{"type":"adam","learningRate":0.01}"#,
        r#"{"type":"sgd","learningRate":0.1,"momentum":0.9,"nesterov":true}"#,
    ];
    let loss = r#"{"type":"sparse_categorical_crossentropy","fromLogits":true}"#;
    let r = &mut Lcg(3);
    let xf: Vec<f32> = (0..3 * 5).map(|_| r.below(9) as f32).collect();
    let xt: Vec<i32> = (0..3 * 5).map(|_| r.below(30) as i32).collect();
    let y: Vec<i32> = (0..5).map(|_| r.below(9) as i32).collect();
    let ys = [5];
    for opt in optimizers {
        for (layers, x) in [(float_layers, Data::Floats(&xf, &[5, 3, 1])), (token_layers, Data::Tokens(&xt, &[5, 3]))] {
            let json = format!(r#"{{"layers": {layers}, "loss": {loss}, "optimizer": {opt}, "seed": 4}}"#);
            let y = Data::Tokens(&y, &ys);
            let run = |threads: usize, fused: bool| {
                let mut m = Model::new(ModelConfig::from_json(&json).unwrap(), threads).unwrap();
                m.check_dataset(&x, &y).unwrap();
                let mut losses = Vec::new();
                for step in 0..12 {
                    let row = [step % 5];
                    if fused {
                        losses.push(m.train_rows(&x, &y, &row).unwrap().loss.to_bits());
                    } else {
                        let (xs, yv) = (x.shape().to_vec(), step % 5);
                        let xr = match x {
                            Data::Floats(v, _) => Data::Floats(&v[yv * 3..yv * 3 + 3], &[1, 3, 1][..xs.len()]),
                            Data::Tokens(v, _) => Data::Tokens(&v[yv * 3..yv * 3 + 3], &[1, 3]),
                        };
                        let yr = match y {
                            Data::Tokens(v, _) => Data::Tokens(&v[yv..yv + 1], &[1]),
                            _ => unreachable!(),
                        };
                        m.zero_grad();
                        losses.push(m.forward_backward(&xr, &yr).unwrap().loss.to_bits());
                        m.apply_gradients().unwrap();
                    }
                }
                (losses, bits(m.params()))
            };
            let stored = run(1, false);
            for threads in [1, 2] {
                let fused = run(threads, true);
                assert_eq!(stored.0, fused.0, "{opt} {layers}: losses differ on {threads} threads");
                if let Some(k) = stored.1.iter().zip(&fused.1).position(|(a, b)| a != b) {
                    panic!(
                        "{opt}: weight {k} differs on {threads} threads: {} (stored) vs {} (fused)",
                        f32::from_bits(stored.1[k]),
                        f32::from_bits(fused.1[k])
                    );
                }
            }
        }
    }
}

/// `evaluate`'s loss on (x, y) equals the training forward's (`forward_backward`) bit for bit.
fn inference_matches_training(m: &mut Model, x: &Data, y: &Data, what: &str) {
    m.zero_grad();
    let train = m.forward_backward(x, y).unwrap().loss;
    let eval = m.evaluate(x, y, x.shape()[0]).unwrap().loss;
    assert_eq!(train.to_bits(), eval.to_bits(), "{what}: training forward {train} vs inference {eval}");
}

/// Inference of a final state (`predict`, `evaluate`) runs its own forward pass that keeps nothing for backward
/// (`lstm_forward_final`). Above 4 samples it must give the training forward's outputs bit for bit (at most 4,
/// training runs the streaming kernels instead): the loss of `evaluate` equals that of `forward_backward` when no
/// dropout is on, for masks, both directions, stacks, and lengths around its window of 8 steps.
#[test]
fn final_state_inference_matches_training_forward() {
    let token_layers = r#"[{"type":"embedding","inputDim":50,"outputDim":6,"maskZero":true},
                           {"type":"lstm","units":9,"bidirectional":true,"returnSequences":true},
                           {"type":"lstm","units":7,"bidirectional":true},{"type":"dense","units":3,"activation":"softmax"}]"#;
    let float_layers = r#"[{"type":"lstm","units":11,"returnSequences":true},{"type":"lstm","units":40},{"type":"dense","units":3}]"#;
    let r = &mut Lcg(12);
    for (n, t) in [(5usize, 2usize), (9, 8), (37, 13), (33, 17)] {
        let tok = tokens(r, n, t, 50);
        let fl: Vec<f32> = (0..n * t * 2).map(|_| r.unit()).collect();
        let y: Vec<i32> = (0..n).map(|_| r.below(3) as i32).collect();
        let cases = [
            (token_layers, r#""sparse_categorical_crossentropy""#, Data::Tokens(&tok, &[n, t][..])),
            (float_layers, r#"{"type":"sparse_categorical_crossentropy","fromLogits":true}"#, Data::Floats(&fl, &[n, t, 2][..])),
        ];
        for (layers, loss, x) in cases {
            for threads in [1, 2] {
                let mut m = model(layers, loss, 3, threads);
                inference_matches_training(&mut m, &x, &Data::Tokens(&y, &[n]), &format!("n={n} t={t} threads={threads} {layers}"));
            }
        }
    }
}

/// At inference an LSTM's final-state path behind an embedding (and dropouts, identities there) reads each step's
/// input projection from a table of the vocabulary's rows (`input_table`) when B·T ≥ V, and gathers the embedding's
/// rows itself below that. Both must give the training forward's outputs bit for bit: `evaluate`'s loss equals
/// `forward_backward`'s (dropout rates 0, so the training forward is the same function), with and without the
/// padding mask, in both directions, on both sides of the threshold, on 1 and 2 threads.
#[test]
fn inference_through_an_embedding_table_matches_training_forward() {
    let vocab = 60;
    for mask_zero in [false, true] {
        for bidirectional in [false, true] {
            let layers = format!(
                r#"[{{"type":"embedding","inputDim":{vocab},"outputDim":7,"maskZero":{mask_zero}}},{{"type":"dropout","rate":0}},
                   {{"type":"dropout","rate":0}},{{"type":"lstm","units":10,"bidirectional":{bidirectional}}},
                   {{"type":"dense","units":3,"activation":"softmax"}}]"#
            );
            let r = &mut Lcg(31);
            // B·T below V (10, 45), at it (60) and above (221, 264).
            for (n, t) in [(5usize, 2usize), (5, 9), (6, 10), (13, 17), (33, 8)] {
                let x = tokens(r, n, t, vocab);
                let y: Vec<i32> = (0..n).map(|_| r.below(3) as i32).collect();
                let (xd, yd) = (Data::Tokens(&x, &[n, t]), Data::Tokens(&y, &[n]));
                for threads in [1, 2] {
                    let mut m = model(&layers, r#""sparse_categorical_crossentropy""#, 4, threads);
                    // Biases of both kinds, not the initial zeros: the table must add them as the projection does.
                    let names: Vec<String> = m.entries().iter().filter(|e| e.name.contains("bias")).map(|e| e.name.clone()).collect();
                    for name in names {
                        let shape = m.get_weight(&name).unwrap().1.to_vec();
                        let w: Vec<f32> = (0..shape[0]).map(|_| r.unit() - 0.5).collect();
                        m.set_weight(&name, &shape, &w).unwrap();
                    }
                    inference_matches_training(&mut m, &xd, &yd, &format!("n={n} t={t} threads={threads} maskZero={mask_zero} bi={bidirectional}"));
                }
            }
        }
    }
}

/// The table is computed from the weights it was made with; any change to them (a training step, `set_weight` of
/// the embedding, W_ih or either bias) must give the predictions of a model that never had a table.
#[test]
fn embedding_table_follows_weight_changes() {
    let layers = r#"[{"type":"embedding","inputDim":40,"outputDim":6},{"type":"dropout","rate":0.3},{"type":"lstm","units":8},
                     {"type":"dense","units":1,"activation":"sigmoid"}]"#;
    let r = &mut Lcg(5);
    let (n, t) = (12usize, 10usize);
    let x = tokens(r, n, t, 40);
    let y: Vec<f32> = (0..n).map(|i| (i % 2) as f32).collect();
    let (xd, yd) = (Data::Tokens(&x, &[n, t]), Data::Floats(&y, &[n, 1]));
    let mut m = model(layers, r#""binary_crossentropy""#, 9, 2);
    // A fresh model with `m`'s weights: its first prediction computes its table from them.
    let fresh = |m: &Model| {
        let mut f = model(layers, r#""binary_crossentropy""#, 1, 2);
        for e in m.entries() {
            let (w, shape) = m.get_weight(&e.name).unwrap();
            f.set_weight(&e.name, shape, w).unwrap();
        }
        bits(&f.predict(&xd, n).unwrap().0)
    };
    let before = bits(&m.predict(&xd, n).unwrap().0);
    assert_eq!(before, fresh(&m));
    m.train_step(&xd, &yd).unwrap();
    let after_step = bits(&m.predict(&xd, n).unwrap().0);
    assert_ne!(after_step, before, "a training step changed no prediction");
    assert_eq!(after_step, fresh(&m), "after a training step");
    for name in ["0.weight", "2.weight_ih", "2.bias_ih", "2.bias_hh"] {
        let (w, shape) = m.get_weight(name).unwrap();
        let (mut w, shape) = (w.to_vec(), shape.to_vec());
        // One element changed, the smallest change a stale copy could miss.
        w[3] += 0.25;
        m.set_weight(name, &shape, &w).unwrap();
        let p = bits(&m.predict(&xd, n).unwrap().0);
        assert_eq!(p, fresh(&m), "after set_weight of {name}");
    }
}
