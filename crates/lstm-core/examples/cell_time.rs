//! Times the fused LSTM cell (forward and backward) at H = 100.
use lstm_core::kernels::act::{lstm_cell_backward, lstm_cell_forward};
use std::time::Instant;

fn main() {
    let h = 100;
    let n = 200_000;
    let mut gates = vec![0.3f32; 4 * h];
    let c_prev = vec![0.1f32; h];
    let mut c = vec![0.0f32; h];
    let mut hid = vec![0.0f32; h];
    let t = Instant::now();
    for k in 0..n {
        gates[0] = k as f32 * 1e-6;
        lstm_cell_forward(h, &mut gates, &c_prev, &mut c, &mut hid);
    }
    let s = t.elapsed().as_secs_f64();
    println!("cell forward: {:.1} ns per call, {:.2} ns per unit ({})", s / n as f64 * 1e9, s / (n * h) as f64 * 1e9, hid[3]);
    let dh = vec![0.01f32; h];
    let mut dc = vec![0.0f32; h];
    let mut dg = vec![0.0f32; 4 * h];
    let t = Instant::now();
    for _ in 0..n {
        lstm_cell_backward(h, &gates, &c_prev, &c, &dh, &mut dc, &mut dg);
    }
    let s = t.elapsed().as_secs_f64();
    println!("cell backward: {:.1} ns per call, {:.2} ns per unit ({})", s / n as f64 * 1e9, s / (n * h) as f64 * 1e9, dg[3]);
}
