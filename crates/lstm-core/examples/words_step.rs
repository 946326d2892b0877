//! Times training steps of the tutorial's next-word model (2-layer LSTM(512) over 3 raw-float word ids, dense
//! output over an 86-word vocabulary, RMSProp, batch 1): `cargo run --release -p lstm-core --example words_step`.

use lstm_core::{Data, LossConfig, Model, ModelConfig, OptimizerConfig};
use std::time::Instant;

fn main() {
    let threads: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(2);
    let steps: usize = std::env::args().nth(2).and_then(|s| s.parse().ok()).unwrap_or(2000);
    let json = r#"{"layers": [{"type":"lstm","units":512,"returnSequences":true,"inputShape":[3,1]},
        {"type":"lstm","units":512},{"type":"dense","units":86}], "seed": 1}"#;
    let mut model = Model::new(ModelConfig::from_json(json).unwrap(), threads).unwrap();
    let loss: LossConfig = lstm_core::config::parse_json("loss", r#"{"type":"sparse_categorical_crossentropy","fromLogits":true}"#).unwrap();
    let opt: OptimizerConfig = lstm_core::config::parse_json("optimizer", r#"{"type":"rmsprop","learningRate":0.001,"epsilon":1e-10}"#).unwrap();
    model.compile(loss, opt).unwrap();
    let x = [3.0f32, 40.0, 85.0];
    let y = [5.0f32];
    for _ in 0..50 {
        model.train_step(&Data::Floats(&x, &[1, 3, 1]), &Data::Floats(&y, &[1])).unwrap();
    }
    let t = Instant::now();
    for _ in 0..steps {
        model.train_step(&Data::Floats(&x, &[1, 3, 1]), &Data::Floats(&y, &[1])).unwrap();
    }
    println!("words step: {:.3} ms/step on {threads} threads", t.elapsed().as_secs_f64() * 1e3 / steps as f64);
}
