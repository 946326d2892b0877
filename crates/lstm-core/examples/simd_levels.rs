//! Prints the SIMD levels this CPU runs, lowest first (`scalar avx2 avx512`), or with `--active` the level the
//! kernels run at under the current `LSTM_NATIVE_SIMD`. `.ci/run` runs the Rust test suites once per level.
fn main() {
    use lstm_core::kernels::simd::{level, supported};
    if std::env::args().any(|a| a == "--active") {
        match level() {
            Ok(l) => println!("{l}"),
            Err(e) => {
                eprintln!("{e}");
                std::process::exit(1);
            }
        }
    } else {
        println!("{}", supported().iter().map(|l| l.name()).collect::<Vec<_>>().join(" "));
    }
}
