//! Times training steps and inference of the tutorial's IMDB model (batch 64, 200 tokens):
//! `cargo run --release -p lstm-core --example imdb_step -- THREADS STEPS [PREDICT_BATCHES [MODEL]]` (0 steps or 0
//! predict batches skips that part). MODEL is `lstm` (the tutorial's, the default), `gru` or `rnn` (that cell in
//! place of the LSTM, same units and dropouts), or `conv` (the CNN+LSTM model: Conv1D(64, 5, relu) and
//! MaxPooling1D(4) before the LSTM).

use lstm_core::{Data, LossConfig, Model, ModelConfig, OptimizerConfig};
use std::time::Instant;

fn main() {
    let threads: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(2);
    let steps: usize = std::env::args().nth(2).and_then(|s| s.parse().ok()).unwrap_or(20);
    let predict_batches: usize = std::env::args().nth(3).and_then(|s| s.parse().ok()).unwrap_or(4);
    let kind = std::env::args().nth(4).unwrap_or_else(|| "lstm".into());
    let (cell, conv) = match kind.as_str() {
        "lstm" | "gru" => (kind.as_str(), ""),
        "rnn" => ("simpleRnn", ""),
        "conv" => ("lstm", r#"{"type":"conv1d","filters":64,"kernelSize":5,"activation":"relu"},{"type":"maxPooling1d","poolSize":4},"#),
        other => panic!("MODEL must be lstm, gru, rnn or conv, got {other}"),
    };
    let json = format!(
        r#"{{"layers": [{{"type":"embedding","inputDim":1000,"outputDim":50}},{{"type":"dropout","rate":0.2}},{conv}
        {{"type":"{cell}","units":100,"dropout":0.2,"recurrentDropout":0.2}},{{"type":"dense","units":250,"activation":"relu"}},
        {{"type":"dropout","rate":0.2}},{{"type":"dense","units":1,"activation":"sigmoid"}}], "seed": 1}}"#
    );
    let mut model = Model::new(ModelConfig::from_json(&json).unwrap(), threads).unwrap();
    let loss: LossConfig = lstm_core::config::parse_json("loss", r#""binary_crossentropy""#).unwrap();
    let opt = OptimizerConfig::from_name("adam").unwrap();
    model.compile(loss, opt).unwrap();
    let (b, t) = (64usize, 200usize);
    let x: Vec<i32> = (0..b * t).map(|i| ((i * 7919) % 999 + 1) as i32).collect();
    let y: Vec<f32> = (0..b).map(|i| (i % 2) as f32).collect();
    if steps > 0 {
        train(&mut model, &x, &y, b, t, steps, threads);
    }
    if predict_batches > 0 {
        predict(&mut model, t, predict_batches);
    }
}

fn train(model: &mut Model, x: &[i32], y: &[f32], b: usize, t: usize, steps: usize, threads: usize) {
    let (xs, ys) = ([b, t], [b, 1]);
    model.train_step(&Data::Tokens(x, &xs), &Data::Floats(y, &ys)).unwrap();
    let start = Instant::now();
    for _ in 0..steps {
        model.train_step(&Data::Tokens(x, &xs), &Data::Floats(y, &ys)).unwrap();
    }
    let per = start.elapsed().as_secs_f64() / steps as f64;
    let flops = 3.0 * 2.0 * (b * t * 400 * 150) as f64;
    println!(
        "imdb train step: {:.1} ms ({:.1} GFLOP/s LSTM-equivalent), {:.0} s per 391-batch epoch, {threads} threads",
        per * 1e3,
        flops / per / 1e9,
        per * 391.0
    );
}

fn predict(model: &mut Model, t: usize, n: usize) {
    let xb: Vec<i32> = (0..500 * t).map(|i| ((i * 7919) % 999 + 1) as i32).collect();
    model.predict(&Data::Tokens(&xb, &[500, t]), 500).unwrap();
    let start = Instant::now();
    for _ in 0..n {
        model.predict(&Data::Tokens(&xb, &[500, t]), 500).unwrap();
    }
    let per = start.elapsed().as_secs_f64() / n as f64;
    println!("imdb predict: {:.0} reviews/s (batch 500)", 500.0 / per);
}
