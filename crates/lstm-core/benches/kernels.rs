//! Kernel throughput: the LSTM layer at the IMDB shape (B=64, T=200, in=50, H=100), forward and forward+backward, on
//! 1 and 2 threads, and sgemm at 64×150×400 (m×k×n). Throughput is reported as elements/s where one element is one
//! FLOP, so criterion's `Gelem/s` reads as GFLOP/s:
//! - LSTM forward: 2·B·T·4H·(in+H) FLOP (the input and recurrent products; the cell's element-wise work is not
//!   counted); backward: twice that; forward+backward: three times.
//! - sgemm: 2·m·k·n.
//!
//! `cargo bench -p lstm-core --bench kernels` (10 samples, 5 s each). `-- lstm` or `-- sgemm` picks a group.

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use lstm_core::kernels::gemm::{gemm, par_gemm, Mat, Strides};
use lstm_core::layers::lstm::{lstm_backward, lstm_forward, LstmCache, LstmDims, LstmGrads, LstmParams, OutputGrad};
use std::time::Duration;

struct Lcg(u64);
impl Lcg {
    fn vec(&mut self, n: usize, scale: f32) -> Vec<f32> {
        (0..n)
            .map(|_| {
                self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                ((self.0 >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * scale
            })
            .collect()
    }
}

fn pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap()
}

fn lstm(c: &mut Criterion) {
    let dims = LstmDims { b: 64, t: 200, i: 50, h: 100 };
    let LstmDims { b, t, i, h } = dims;
    let g4 = 4 * h;
    let r = &mut Lcg(1);
    let x = r.vec(b * t * i, 1.0);
    let (w_ih, w_hh, b_ih, b_hh) = (r.vec(g4 * i, 0.1), r.vec(g4 * h, 0.1), r.vec(g4, 0.1), r.vec(g4, 0.1));
    let p = LstmParams { w_ih: &w_ih, w_hh: &w_hh, b_ih: &b_ih, b_hh: &b_hh };
    let dy = r.vec(b * h, 1.0);
    let (mut dw_ih, mut dw_hh, mut db_ih, mut db_hh) = (vec![0.0; g4 * i], vec![0.0; g4 * h], vec![0.0; g4], vec![0.0; g4]);
    let mut dx = vec![0.0; b * t * i];
    let fwd_flops = 2 * b * t * g4 * (i + h);

    let mut group = c.benchmark_group("lstm_imdb_b64_t200_in50_h100");
    group.sample_size(10).measurement_time(Duration::from_secs(5)).warm_up_time(Duration::from_secs(1));
    for threads in [1, 2] {
        let pool = pool(threads);
        let mut cache = LstmCache::default();
        group.throughput(Throughput::Elements(fwd_flops as u64));
        group.bench_function(BenchmarkId::new("forward", format!("{threads}t")), |bench| {
            bench.iter(|| pool.install(|| lstm_forward(dims, false, black_box(&x), None, p, &mut cache)))
        });
        group.throughput(Throughput::Elements(3 * fwd_flops as u64));
        group.bench_function(BenchmarkId::new("forward_backward", format!("{threads}t")), |bench| {
            bench.iter(|| {
                pool.install(|| {
                    lstm_forward(dims, false, black_box(&x), None, p, &mut cache);
                    let grads = LstmGrads { dw_ih: Some(&mut dw_ih), dw_hh: Some(&mut dw_hh), db_ih: &mut db_ih, db_hh: &mut db_hh };
                    let dout = OutputGrad::Last { dy: &dy, features: h, offset: 0 };
                    dx.fill(0.0);
                    lstm_backward(dims, false, &x, None, p, &mut cache, dout, grads, Some(&mut dx), None);
                })
            })
        });
    }
    group.finish();
}

fn sgemm(c: &mut Criterion) {
    // The IMDB LSTM's fused product [x h]·[W_ih W_hh]ᵀ: A [64,150] row-major, B the transpose of a [400,150] weight.
    let (m, k, n) = (64, 150, 400);
    let r = &mut Lcg(2);
    let a = r.vec(m * k, 1.0);
    let w = r.vec(n * k, 0.1);
    let mut out = vec![0.0f32; m * n];
    let mut group = c.benchmark_group("sgemm_64x150x400");
    group.sample_size(10).measurement_time(Duration::from_secs(5)).warm_up_time(Duration::from_secs(1));
    group.throughput(Throughput::Elements((2 * m * k * n) as u64));
    group.bench_function("gemm", |bench| {
        bench.iter(|| gemm(m, k, n, 1.0, Mat::new(black_box(&a), Strides::rows(k)), Mat::new(&w, Strides::transposed(k)), 0.0, &mut out, Strides::rows(n)))
    });
    for threads in [1, 2] {
        let pool = pool(threads);
        group.bench_function(BenchmarkId::new("par_gemm", format!("{threads}t")), |bench| {
            bench.iter(|| {
                pool.install(|| {
                    par_gemm(m, k, n, 1.0, Mat::new(black_box(&a), Strides::rows(k)), Mat::new(&w, Strides::transposed(k)), 0.0, &mut out, Strides::rows(n))
                })
            })
        });
    }
    group.finish();
}

criterion_group!(benches, lstm, sgemm);
criterion_main!(benches);
