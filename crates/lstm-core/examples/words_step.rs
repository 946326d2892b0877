//! Times training steps of the tutorial's next-word model (2-layer LSTM(512) over 3 raw-float word ids, dense
//! output over the vocabulary, RMSProp, batch 1) on the bundled passage, walked as `lstm-native train words` walks
//! it: `cargo run --release -p lstm-core --example words_step [THREADS] [STEPS]`. Prints the time per step and the
//! accuracy over the timed steps.

use lstm_core::{Data, LossConfig, Model, ModelConfig, OptimizerConfig};
use std::collections::HashMap;
use std::time::Instant;

fn main() {
    let threads: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(2);
    let steps: usize = std::env::args().nth(2).and_then(|s| s.parse().ok()).unwrap_or(2000);
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/meditations-5-20.txt")).expect("the bundled passage");
    let words: Vec<&str> = text.split_whitespace().collect();
    // Ids by frequency, ties by first appearance (text.buildVocabulary).
    let mut counts: HashMap<&str, (usize, usize)> = HashMap::new();
    for (pos, w) in words.iter().enumerate() {
        counts.entry(w).or_insert((0, pos)).0 += 1;
    }
    let mut vocab: Vec<(&str, (usize, usize))> = counts.into_iter().collect();
    vocab.sort_by_key(|&(_, (count, first))| (std::cmp::Reverse(count), first));
    let id: HashMap<&str, usize> = vocab.iter().enumerate().map(|(i, (w, _))| (*w, i)).collect();
    let ids: Vec<f32> = words.iter().map(|w| id[w] as f32).collect();

    let json = format!(
        r#"{{"layers": [{{"type":"lstm","units":512,"returnSequences":true,"inputShape":[3,1]}},
        {{"type":"lstm","units":512}},{{"type":"dense","units":{}}}], "seed": 1}}"#,
        vocab.len()
    );
    let mut model = Model::new(ModelConfig::from_json(&json).unwrap(), threads).unwrap();
    let loss: LossConfig = lstm_core::config::parse_json("loss", r#"{"type":"sparse_categorical_crossentropy","fromLogits":true}"#).unwrap();
    let opt: OptimizerConfig = lstm_core::config::parse_json("optimizer", r#"{"type":"rmsprop","learningRate":0.001,"epsilon":1e-10}"#).unwrap();
    model.compile(loss, opt).unwrap();
    // The tutorial's walk, with a fixed start: 3 words and the next, then on by 4, back to the start at the end.
    let mut offset = 0;
    let mut step = |model: &mut Model| {
        if offset + 4 > ids.len() {
            offset = 0;
        }
        let (x, y) = (&ids[offset..offset + 3], [ids[offset + 3]]);
        offset += 4;
        model.train_step(&Data::Floats(x, &[1, 3, 1]), &Data::Floats(&y, &[1])).unwrap().accuracy
    };
    for _ in 0..50 {
        step(&mut model);
    }
    let t = Instant::now();
    let correct: f64 = (0..steps).map(|_| step(&mut model)).sum();
    let ms = t.elapsed().as_secs_f64() * 1e3 / steps as f64;
    println!("words step: {ms:.3} ms/step on {threads} threads (accuracy over these steps {:.1}%)", 100.0 * correct / steps as f64);
}
