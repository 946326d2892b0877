//! Inference time of the tutorial's IMDB model (T = 200) at several batch sizes, for A/B runs of two builds:
//! `cargo run --release -p lstm-core --example infer_times -- THREADS SECONDS B1,B2,…` (defaults 2, 1, 1,32,64,500).
//! For each batch size: the median and the range of the per-batch times over repeated `predict` calls of about
//! SECONDS in all, the process's CPU time per batch (all threads, from /proc/self/stat: less sensitive than the wall
//! time to other processes taking the cores), and a hash of the outputs' bits (two builds that compute the same
//! outputs print the same hash).

use lstm_core::{Data, Model, ModelConfig};
use std::time::Instant;

fn main() {
    let arg = |n: usize| std::env::args().nth(n);
    let threads: usize = arg(1).and_then(|s| s.parse().ok()).unwrap_or(2);
    let seconds: f64 = arg(2).and_then(|s| s.parse().ok()).unwrap_or(1.0);
    let sizes: Vec<usize> = arg(3).unwrap_or_else(|| "1,32,64,500".into()).split(',').map(|s| s.parse().expect("a batch size")).collect();
    let json = r#"{"layers": [{"type":"embedding","inputDim":1000,"outputDim":50},{"type":"dropout","rate":0.2},
        {"type":"lstm","units":100,"dropout":0.2,"recurrentDropout":0.2},{"type":"dense","units":250,"activation":"relu"},
        {"type":"dropout","rate":0.2},{"type":"dense","units":1,"activation":"sigmoid"}], "seed": 1}"#;
    let mut model = Model::new(ModelConfig::from_json(json).unwrap(), threads).unwrap();
    let t = 200usize;
    // Reviews of 20 to 200 tokens, left-padded with zeros like padSequences' default
    // (the tutorial's model, `imdbModel()`, has no maskZero: the zeros are ordinary tokens).
    let tokens = |b: usize| -> Vec<i32> {
        let mut x = vec![0i32; b * t];
        for (r, row) in x.chunks_exact_mut(t).enumerate() {
            let len = 20 + (r * 37) % (t - 19);
            for (j, v) in row[t - len..].iter_mut().enumerate() {
                *v = (((r * 131 + j) * 7919) % 999 + 1) as i32;
            }
        }
        x
    };
    for &b in &sizes {
        let x = tokens(b);
        let data = Data::Tokens(&x, &[b, t]);
        let (out, _) = model.predict(&data, b).unwrap();
        let hash = out.iter().fold(0xcbf29ce484222325u64, |h, v| (h ^ v.to_bits() as u64).wrapping_mul(0x100000001b3));
        let mut times = Vec::new();
        let cpu0 = cpu_seconds();
        let start = Instant::now();
        while start.elapsed().as_secs_f64() < seconds || times.len() < 5 {
            let t0 = Instant::now();
            model.predict(&data, b).unwrap();
            times.push(t0.elapsed().as_secs_f64() * 1e3);
        }
        let cpu = (cpu_seconds() - cpu0) * 1e3 / times.len() as f64;
        times.sort_by(f64::total_cmp);
        let med = times[times.len() / 2];
        println!(
            "B={b:4}: {med:8.3} ms per batch (range {:.3}-{:.3}, {} runs), {:7.0} rows/s, CPU {cpu:.3} ms per batch, outputs {hash:016x}",
            times[0],
            times[times.len() - 1],
            times.len(),
            b as f64 / med * 1e3
        );
    }
}

/// User + system CPU time of the whole process so far, in seconds (0 where /proc is not there).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The fields after the command name (which may hold spaces) in parentheses: utime and stime are the 12th and 13th,
    // in ticks of 1/100 s.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let tick = |k: usize| f.get(k).and_then(|x| x.parse::<f64>().ok()).unwrap_or(0.0);
    (tick(11) + tick(12)) / 100.0
}
