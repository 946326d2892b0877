//! Kernel throughput: the LSTM layer at the IMDB shape (B=64, T=200, in=50, H=100), forward and forward+backward, on
//! 1 and 2 threads, and sgemm at 64×150×400 (m×k×n). Throughput is reported as elements/s where one element is one
//! FLOP, so criterion's `Gelem/s` reads as GFLOP/s:
//! - LSTM forward: 2·B·T·4H·(in+H) FLOP (the input and recurrent products; the cell's element-wise work is not
//!   counted); backward: twice that; forward+backward: three times.
//! - sgemm: 2·m·k·n.
//!
//! - Conv1D at the CNN+LSTM IMDB model's shape (B=64, T=200, C=50, 64 filters of width 5, valid: T'=196):
//!   forward (im2col and the product), 2·B·T'·k·C·F FLOP; forward+backward (the weight gradient, the windows'
//!   gradient and its scatter back onto the steps) three times that. Beside it, in the same group, the bare product
//!   at that shape on windows already copied, and a 1024³ product: the machine's GEMM rate, which Conv1D's figure
//!   reads against.
//!
//! `cargo bench -p lstm-core --bench kernels` (10 samples, 5 s each). `-- lstm`, `-- sgemm` or `-- conv1d` picks a
//! group.

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use lstm_core::config::Padding;
use lstm_core::kernels::gemm::{gemm, par_gemm, Mat, Strides};
use lstm_core::layers::conv1d::{col2im, geometry, im2col, weight_to_taps, ConvDims};
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

fn conv1d(c: &mut Criterion) {
    let (b, t, ch, f, k) = (64usize, 200usize, 50usize, 64usize, 5usize);
    let geo = geometry(t, k, 1, Padding::Valid);
    let d = ConvDims { b, t, c: ch, k, stride: 1, dilation: 1, geo };
    let (kc, rows) = (k * ch, b * geo.t_out);
    let r = &mut Lcg(3);
    let x = r.vec(b * t * ch, 1.0);
    let w = r.vec(f * ch * k, 0.1);
    let dz = r.vec(rows * f, 1.0);
    let (mut wk, mut dwk) = (vec![0.0; f * kc], vec![0.0; f * kc]);
    let (mut cols, mut z, mut dx) = (vec![0.0; rows * kc], vec![0.0; rows * f], vec![0.0; b * t * ch]);
    let fwd_flops = (2 * rows * kc * f) as u64;

    let mut group = c.benchmark_group("conv1d_imdb_b64_t200_c50_f64_k5");
    group.sample_size(10).measurement_time(Duration::from_secs(5)).warm_up_time(Duration::from_secs(1));
    for threads in [1, 2] {
        let pool = pool(threads);
        group.throughput(Throughput::Elements(fwd_flops));
        group.bench_function(BenchmarkId::new("forward", format!("{threads}t")), |bench| {
            bench.iter(|| {
                pool.install(|| {
                    weight_to_taps(f, ch, k, &w, &mut wk);
                    im2col(d, black_box(&x), &mut cols);
                    par_gemm(rows, kc, f, 1.0, Mat::new(&cols, Strides::rows(kc)), Mat::new(&wk, Strides::transposed(kc)), 0.0, &mut z, Strides::rows(f));
                })
            })
        });
        group.bench_function(BenchmarkId::new("gemm_alone", format!("{threads}t")), |bench| {
            bench.iter(|| {
                pool.install(|| {
                    par_gemm(
                        rows,
                        kc,
                        f,
                        1.0,
                        Mat::new(black_box(&cols), Strides::rows(kc)),
                        Mat::new(&wk, Strides::transposed(kc)),
                        0.0,
                        &mut z,
                        Strides::rows(f),
                    )
                })
            })
        });
        group.throughput(Throughput::Elements(3 * fwd_flops));
        group.bench_function(BenchmarkId::new("forward_backward", format!("{threads}t")), |bench| {
            bench.iter(|| {
                pool.install(|| {
                    weight_to_taps(f, ch, k, &w, &mut wk);
                    im2col(d, black_box(&x), &mut cols);
                    par_gemm(rows, kc, f, 1.0, Mat::new(&cols, Strides::rows(kc)), Mat::new(&wk, Strides::transposed(kc)), 0.0, &mut z, Strides::rows(f));
                    par_gemm(f, rows, kc, 1.0, Mat::new(&dz, Strides::transposed(f)), Mat::new(&cols, Strides::rows(kc)), 0.0, &mut dwk, Strides::rows(kc));
                    par_gemm(rows, f, kc, 1.0, Mat::new(&dz, Strides::rows(f)), Mat::new(&wk, Strides::rows(kc)), 0.0, &mut cols, Strides::rows(kc));
                    col2im(d, &cols, &mut dx);
                })
            })
        });
        let n = 1024;
        let (a, bm) = (r.vec(n * n, 1.0), r.vec(n * n, 1.0));
        let mut out = vec![0.0f32; n * n];
        group.throughput(Throughput::Elements((2 * n * n * n) as u64));
        group.bench_function(BenchmarkId::new("machine_gemm_1024", format!("{threads}t")), |bench| {
            bench.iter(|| {
                pool.install(|| {
                    par_gemm(n, n, n, 1.0, Mat::new(black_box(&a), Strides::rows(n)), Mat::new(&bm, Strides::rows(n)), 0.0, &mut out, Strides::rows(n))
                })
            })
        });
    }
    group.finish();
}

criterion_group!(benches, lstm, sgemm, conv1d);
criterion_main!(benches);
