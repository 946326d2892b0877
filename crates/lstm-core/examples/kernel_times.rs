//! Times the building blocks of a batch-1 step, to see where a next-word step goes.
use lstm_core::kernels::small::{par_gemm_a_b, par_gemm_a_wt, par_gemm_gt_x};
use std::time::Instant;

fn time(name: &str, bytes: f64, reps: usize, mut f: impl FnMut()) {
    f();
    let (mut total, mut best) = (0.0f64, f64::MAX);
    for _ in 0..reps {
        let t = Instant::now();
        f();
        let s = t.elapsed().as_secs_f64();
        total += s;
        best = best.min(s);
    }
    let mean = total / reps as f64;
    println!("{name:40} {:8.1} us mean {:6.1} GB/s, best {:8.1} us {:6.1} GB/s", mean * 1e6, bytes / mean / 1e9, best * 1e6, bytes / best / 1e9);
}

fn main() {
    let threads: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(2);
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
    let (h, g4) = (512, 2048);
    let w = vec![0.01f32; g4 * h];
    let a = vec![0.5f32; 3 * h];
    let dg = vec![0.25f32; 3 * g4];
    let mut c = vec![0.0f32; 3 * g4];
    let mut dw = vec![0.0f32; g4 * h];
    let wb = (g4 * h * 4) as f64;
    pool.install(|| {
        time("a_wt 1x512x2048 (forward recurrent)", wb, 200, || par_gemm_a_wt(1, h, g4, &a, h, &w, 1.0, &mut c, g4));
        time("a_wt 3x512x2048 (input projection)", wb, 200, || par_gemm_a_wt(3, h, g4, &a, h, &w, 1.0, &mut c, g4));
        time("a_b 1x2048x512 (dh backward)", wb, 200, || par_gemm_a_b(1, g4, h, &dg, g4, &w, h, 0.0, &mut c, h));
        time("a_b 3x2048x512 (dx backward)", wb, 200, || par_gemm_a_b(3, g4, h, &dg, g4, &w, h, 0.0, &mut c, h));
        time("gt_x 2048x3x512 (dW update)", 2.0 * wb, 200, || par_gemm_gt_x(g4, 3, h, &dg, g4, &a, h, 1.0, &mut dw, h));
        let mut p = vec![0.1f32; 3_200_000];
        let g = vec![0.01f32; 3_200_000];
        let mut ms = vec![0.0f32; 3_200_000];
        let mut mo = vec![0.0f32; 3_200_000];
        time("rmsprop 3.2M (whole arena)", 5.0 * 4.0 * 3.2e6, 50, || {
            use rayon::prelude::*;
            p.par_chunks_mut(16384).zip(g.par_chunks(16384)).zip(ms.par_chunks_mut(16384)).zip(mo.par_chunks_mut(16384)).for_each(|(((p, g), s), m)| {
                lstm_core::optim::rmsprop_update(p, g, s, m, 1e-3, 0.9, 1e-10, 0.0);
            })
        });
        // The next-word step's update: three 2048×512 LSTM weights whose gradients are rank-3 (formed on the fly).
        let cfg: lstm_core::OptimizerConfig = lstm_core::config::parse_json("optimizer", r#"{"type":"rmsprop","learningRate":0.001,"epsilon":1e-10}"#).unwrap();
        let len = 3 * g4 * h;
        let mut opt = lstm_core::optim::Optimizer::new(cfg, len).unwrap();
        let mut params = vec![0.1f32; len];
        let ranges: Vec<_> = (0..3).map(|t| t * g4 * h..(t + 1) * g4 * h).collect();
        let lr = lstm_core::optim::LowRankGrad { k: 3, n: h, g: &dg, ldg: g4, x: &a, ldx: h };
        let sources = vec![lstm_core::optim::GradSource::LowRank(lr); 3];
        time("rmsprop low-rank 3x2048x512 (fused)", 4.0 * 4.0 * len as f64, 50, || opt.apply_fused(&mut params, &ranges, &sources));
        time("memset 12.8MB", 12.8e6, 50, || p.fill(0.0));
    });
}
