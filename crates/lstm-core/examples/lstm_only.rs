//! The LSTM layer alone at the IMDB shape (B=64, T=200, in=50, H=100): forward+backward GFLOP/s, for profiling.
use lstm_core::layers::lstm::{lstm_backward, lstm_forward, LstmCache, LstmDims, LstmGrads, LstmParams, OutputGrad};
use std::time::Instant;

fn main() {
    let threads: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(2);
    let reps: usize = std::env::args().nth(2).and_then(|s| s.parse().ok()).unwrap_or(20);
    // Pass "dx" as the third argument to also compute the input gradient (as the IMDB model does).
    let with_dx = std::env::args().nth(3).is_some_and(|a| a == "dx");
    let d = LstmDims { b: 64, t: 200, i: 50, h: 100 };
    let g4 = 4 * d.h;
    let w_ih: Vec<f32> = (0..g4 * d.i).map(|k| ((k * 37 % 101) as f32 - 50.0) * 0.002).collect();
    let w_hh: Vec<f32> = (0..g4 * d.h).map(|k| ((k * 53 % 103) as f32 - 51.0) * 0.002).collect();
    let b = vec![0.0f32; g4];
    let x: Vec<f32> = (0..d.b * d.t * d.i).map(|k| ((k * 29 % 97) as f32 - 48.0) * 0.01).collect();
    let dy: Vec<f32> = (0..d.b * d.h).map(|k| ((k % 7) as f32 - 3.0) * 0.01).collect();
    let (mut dwi, mut dwh, mut dbi, mut dbh) = (vec![0.0; g4 * d.i], vec![0.0; g4 * d.h], vec![0.0; g4], vec![0.0; g4]);
    let mut dx = vec![0.0f32; d.b * d.t * d.i];
    let mut cache = LstmCache::default();
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
    let p = LstmParams { w_ih: &w_ih, w_hh: &w_hh, b_ih: &b, b_hh: &b };
    let (mut tf, mut tb) = (0.0, 0.0);
    pool.install(|| {
        for r in 0..reps + 2 {
            let t0 = Instant::now();
            lstm_forward(d, false, &x, None, p, &mut cache);
            let t1 = Instant::now();
            let grads = LstmGrads { dw_ih: Some(&mut dwi), dw_hh: Some(&mut dwh), db_ih: &mut dbi, db_hh: &mut dbh };
            let dx = if with_dx {
                dx.fill(0.0);
                Some(&mut dx[..])
            } else {
                None
            };
            lstm_backward(d, false, &x, None, p, &mut cache, OutputGrad::Last { dy: &dy, features: d.h, offset: 0 }, grads, dx, None);
            let t2 = Instant::now();
            if r >= 2 {
                tf += (t1 - t0).as_secs_f64();
                tb += (t2 - t1).as_secs_f64();
            }
        }
    });
    let fwd = 2.0 * (d.b * d.t * g4 * (d.i + d.h)) as f64;
    let (tf, tb) = (tf / reps as f64, tb / reps as f64);
    println!(
        "{threads} threads{}: forward {:.1} ms ({:.1} GFLOP/s), backward {:.1} ms ({:.1} GFLOP/s), total {:.1} GFLOP/s",
        if with_dx { ", with dx" } else { "" },
        tf * 1e3,
        fwd / tf / 1e9,
        tb * 1e3,
        2.0 * fwd / tb / 1e9,
        3.0 * fwd / (tf + tb) / 1e9
    );
}
