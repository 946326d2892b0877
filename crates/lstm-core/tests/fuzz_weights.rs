//! Property-based fuzzing of `Model::load` and `Model::load_weights` (through their in-memory forms
//! `load_from_bytes` / `load_weights_from_bytes`, which the file versions call after reading the file).
//!
//! Inputs start from valid saved files (a token model with Adam state and user metadata, and a float-input model
//! for `load_weights` into an unbuilt model) and are truncated, bit-flipped, byte-inserted, byte-deleted, overwritten,
//! digit-mutated (the architecture and the shapes are numbers in the JSON header) or given another header length.
//! Besides, every single-bit flip of every byte of both files (length prefix, header JSON: keys, values, digits,
//! structure, padding; tensor data) is tried. Every input that differs from the valid file must give
//! `CorruptWeights`: the files carry checksums, so no change goes unnoticed. Each input is counted as a crash (a
//! panic), an untyped error (another error kind), accepted (loaded although changed), or rejected; the tests fail
//! unless the first three counts are 0. A counting allocator checks that no single allocation during a load is
//! larger than the input justifies: a header length or an architecture from the file never sizes a buffer by itself.
//!
//! `LSTM_FUZZ_CASES` sets the number of random inputs (default 100000).

use lstm_core::{Data, LstmError, Model, ModelConfig};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::time::Instant;

/// Records the largest single allocation made by the current thread while it is armed. Per thread, because the
/// test harness runs the tests of this file in parallel (the loads themselves run on the calling thread; the
/// model's pool threads only allocate their small fixed state).
struct Counting;
thread_local! {
    static ARMED: Cell<bool> = const { Cell::new(false) };
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

fn record(size: usize) {
    // `try_with`: a thread being torn down has no thread-locals left, and its allocations do not matter here.
    let _ = ARMED.try_with(|armed| {
        if armed.get() {
            let _ = LARGEST.try_with(|l| l.set(l.get().max(size)));
        }
    });
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        record(l.size());
        System.alloc(l)
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        record(l.size());
        System.alloc_zeroed(l)
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new_size: usize) -> *mut u8 {
        record(new_size);
        System.realloc(p, l, new_size)
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        System.dealloc(p, l)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// The largest allocation a load of `len` bytes may make: the model's params, grads and two optimizer slots are each
/// at most the file's weights; parsing copies at most the header. Fixed costs (a thread pool) fit in 16 KiB.
fn allowed(len: usize) -> usize {
    2 * len + 16 * 1024
}

const PATH: &str = "fuzzed.safetensors";

/// What the loads did, for the statistics.
#[derive(Default, Debug)]
struct Outcomes {
    ok: usize,
    corrupt: usize,
    /// Loads that panicked.
    crashes: usize,
    /// Loads that failed with another error than CorruptWeights.
    untyped: usize,
    /// Loads of a changed file that succeeded.
    accepted: usize,
    largest: usize,
    /// The first few failures, for the report.
    examples: Vec<String>,
}

impl Outcomes {
    fn failures(&self) -> usize {
        self.crashes + self.untyped + self.accepted
    }
    fn note(&mut self, what: String) {
        if self.examples.len() < 8 {
            self.examples.push(what);
        }
    }
    fn summary(&self) -> String {
        format!(
            "{} loads: {} crashes, {} untyped errors, {} changed files accepted, {} rejected (CORRUPT_WEIGHTS), {} valid loads",
            self.ok + self.corrupt + self.crashes + self.untyped,
            self.crashes,
            self.untyped,
            self.accepted,
            self.corrupt,
            self.ok - self.accepted
        )
    }
}

/// Loads `bytes` both ways and counts the outcomes; fails (an `Err`) only on what must stop the run: a large
/// allocation, a failed load that built the model, a loaded model that cannot predict.
/// `target` caches the model to `load_weights` into: a failed load changes nothing, so it is reused (a fresh model
/// per input would cost a thread pool each); after a successful load into an unbuilt model it is made again.
fn check(bytes: &[u8], base: &Base, target: &mut Option<Model>, out: &mut Outcomes) -> Result<(), String> {
    let changed = bytes != base.bytes.as_slice();
    let into = target.get_or_insert_with(base.target);
    let was_built = into.is_built();
    LARGEST.with(|l| l.set(0));
    ARMED.with(|a| a.set(true));
    let loaded = catch_unwind(AssertUnwindSafe(|| Model::load_from_bytes(bytes, Path::new(PATH), 1)));
    let weights = catch_unwind(AssertUnwindSafe(|| into.load_weights_from_bytes(bytes, Path::new(PATH))));
    ARMED.with(|a| a.set(false));
    let weights = match weights {
        Ok(w) => Some(w),
        Err(_) => {
            // The model may be half-changed by a panic: make a fresh one.
            *target = None;
            None
        }
    };
    if let Some(into) = target.as_ref() {
        if weights.as_ref().is_some_and(|w| w.is_err()) && into.is_built() != was_built {
            return Err("a failed load_weights built the model".into());
        }
    }
    if weights.as_ref().is_some_and(|w| w.is_ok()) && !was_built {
        *target = None;
    }
    let largest = LARGEST.with(|l| l.get());
    out.largest = out.largest.max(largest);
    if largest > allowed(bytes.len()) {
        return Err(format!("a load of {} bytes allocated {largest} bytes at once", bytes.len()));
    }
    let results = [("load", loaded.as_ref().ok().map(|r| r.as_ref().map(|_| ()))), ("load_weights", weights.as_ref().map(|r| r.as_ref().map(|_| ())))];
    for (what, r) in results {
        match r {
            None => {
                out.crashes += 1;
                out.note(format!("{what} panicked"));
            }
            Some(Ok(())) => {
                out.ok += 1;
                if changed {
                    out.accepted += 1;
                    out.note(format!("{what} accepted a changed file"));
                }
            }
            Some(Err(LstmError::CorruptWeights { .. })) => out.corrupt += 1,
            Some(Err(e)) => {
                out.untyped += 1;
                out.note(format!("{what}: {} instead of CORRUPT_WEIGHTS: {e}", e.code()));
            }
        }
    }
    // A load that succeeds gives a model that works.
    if let Ok(Ok((mut m, _))) = loaded {
        let x = (base.input)();
        let data = match &x {
            Input::Tokens(v, s) => Data::Tokens(v, s),
            Input::Floats(v, s) => Data::Floats(v, s),
        };
        if let Err(e) = m.predict(&data, 2) {
            return Err(format!("a loaded model cannot predict: {e}"));
        }
    }
    Ok(())
}

enum Input {
    Tokens(Vec<i32>, Vec<usize>),
    Floats(Vec<f32>, Vec<usize>),
}

/// A valid file and how to make a model to `load_weights` it into.
struct Base {
    bytes: Vec<u8>,
    target: fn() -> Model,
    input: fn() -> Input,
}

fn token_model() -> Model {
    let json = r#"{"layers":[{"type":"embedding","inputDim":10,"outputDim":3,"maskZero":true},{"type":"lstm","units":2,"recurrentDropout":0.1},
                  {"type":"dense","units":1,"activation":"sigmoid"}],"loss":"binary_crossentropy","optimizer":"adam","seed":4}"#;
    Model::new(ModelConfig::from_json(json).unwrap(), 1).unwrap()
}

/// A float-input model built from its first batch (no inputShape): `load_weights` reads the input size from the file.
fn float_model() -> Model {
    let json = r#"{"layers":[{"type":"lstm","units":2,"returnSequences":true,"bidirectional":true},{"type":"dense","units":2,"activation":"softmax"}],
                  "loss":"sparse_categorical_crossentropy","optimizer":{"type":"rmsprop","momentum":0.5},"seed":5}"#;
    Model::new(ModelConfig::from_json(json).unwrap(), 1).unwrap()
}

/// The valid files, made once (the tests of this file run in parallel and share them).
fn bases() -> &'static [Base] {
    static BASES: std::sync::OnceLock<Vec<Base>> = std::sync::OnceLock::new();
    BASES.get_or_init(make_bases)
}

fn make_bases() -> Vec<Base> {
    let dir = std::env::temp_dir().join(format!("lstm-core-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut out = Vec::new();

    let mut m = token_model();
    let x = [1, 2, 3, 0, 4, 5, 6, 7, 9, 8, 0, 0];
    m.train_step(&Data::Tokens(&x, &[3, 4]), &Data::Floats(&[1.0, 0.0, 1.0], &[3, 1])).unwrap();
    let p = dir.join("token.safetensors");
    m.save(&p, true, Some(r#"{"vocabulary":["<pad>","a","b"]}"#)).unwrap();
    out.push(Base { bytes: std::fs::read(&p).unwrap(), target: token_model, input: || Input::Tokens(vec![1, 2, 0, 9], vec![2, 2]) });

    let mut f = float_model();
    let xf: Vec<f32> = (0..3 * 4 * 2).map(|k| (k as f32 * 0.37).sin()).collect();
    f.train_step(&Data::Floats(&xf, &[3, 4, 2]), &Data::Tokens(&[0, 1, 1, 0, 1, 0, 0, 0, 1, 1, 1, 0], &[3, 4])).unwrap();
    let p = dir.join("float.safetensors");
    f.save(&p, true, None).unwrap();
    out.push(Base { bytes: std::fs::read(&p).unwrap(), target: float_model, input: || Input::Floats(vec![0.5; 2 * 3 * 2], vec![2, 3, 2]) });

    let _ = std::fs::remove_dir_all(&dir);
    out
}

#[derive(Clone, Debug)]
enum Mutation {
    Truncate(Index),
    Flip(Vec<(Index, u8)>),
    Insert(Index, Vec<u8>),
    Delete(Index, usize),
    Overwrite(Index, Vec<u8>),
    /// Replace a digit of the header by another digit, or insert a digit after it (numbers grow tenfold).
    Digits(Vec<(Index, u8, bool)>),
    /// Append digits to a number of the header (a size becomes 10^k times larger; the header length is kept valid).
    Grow(Index, Vec<u8>),
    HeaderLen(u64),
    /// Header length off by a small amount.
    HeaderLenDelta(i64),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        2 => any::<Index>().prop_map(Mutation::Truncate),
        4 => prop::collection::vec((any::<Index>(), 0u8..8), 1..6).prop_map(Mutation::Flip),
        2 => (any::<Index>(), prop::collection::vec(any::<u8>(), 1..8)).prop_map(|(i, b)| Mutation::Insert(i, b)),
        2 => (any::<Index>(), 1usize..64).prop_map(|(i, n)| Mutation::Delete(i, n)),
        2 => (any::<Index>(), prop::collection::vec(any::<u8>(), 1..16)).prop_map(|(i, b)| Mutation::Overwrite(i, b)),
        4 => prop::collection::vec((any::<Index>(), 0u8..10, any::<bool>()), 1..8).prop_map(Mutation::Digits),
        3 => (any::<Index>(), prop::collection::vec(0u8..10, 1..7)).prop_map(|(i, d)| Mutation::Grow(i, d)),
        1 => prop_oneof![
            Just(u64::MAX),
            Just(u64::MAX / 2),
            Just(1u64 << 63),
            Just(100_000_000u64),
            Just(100_000_001u64),
            any::<u64>(),
            0u64..100_000,
        ]
        .prop_map(Mutation::HeaderLen),
        1 => (-64i64..64).prop_map(Mutation::HeaderLenDelta),
    ]
}

fn header_len(b: &[u8]) -> usize {
    u64::from_le_bytes(b[..8].try_into().unwrap()) as usize
}

fn apply(base: &[u8], m: &Mutation) -> Vec<u8> {
    let mut b = base.to_vec();
    match m {
        Mutation::Truncate(i) => b.truncate(i.index(base.len())),
        Mutation::Flip(flips) => {
            for (i, bit) in flips {
                let k = i.index(b.len());
                b[k] ^= 1 << bit;
            }
        }
        Mutation::Insert(i, bytes) => {
            let k = i.index(b.len() + 1);
            b.splice(k..k, bytes.iter().copied());
        }
        Mutation::Delete(i, n) => {
            let k = i.index(b.len());
            let end = (k + n).min(b.len());
            b.drain(k..end);
        }
        Mutation::Overwrite(i, bytes) => {
            let k = i.index(b.len());
            for (j, v) in bytes.iter().enumerate() {
                if let Some(x) = b.get_mut(k + j) {
                    *x = *v;
                }
            }
        }
        Mutation::Digits(edits) => {
            for (i, d, insert) in edits {
                let end = (8 + header_len(&b)).min(b.len());
                let digits: Vec<usize> = (8..end).filter(|&k| b[k].is_ascii_digit()).collect();
                if digits.is_empty() {
                    break;
                }
                let k = digits[i.index(digits.len())];
                if *insert {
                    b.insert(k + 1, b'0' + d);
                    // Keep the header length consistent, so the JSON parser sees the change.
                    let n = header_len(&b) as u64 + 1;
                    b[..8].copy_from_slice(&n.to_le_bytes());
                } else {
                    b[k] = b'0' + d;
                }
            }
        }
        Mutation::Grow(i, digits) => {
            let end = (8 + header_len(&b)).min(b.len());
            let positions: Vec<usize> = (8..end).filter(|&k| b[k].is_ascii_digit()).collect();
            if !positions.is_empty() {
                let k = positions[i.index(positions.len())];
                b.splice(k + 1..k + 1, digits.iter().map(|d| b'0' + d));
                let n = (header_len(&b) + digits.len()) as u64;
                b[..8].copy_from_slice(&n.to_le_bytes());
            }
        }
        Mutation::HeaderLen(n) => b[..8].copy_from_slice(&n.to_le_bytes()),
        Mutation::HeaderLenDelta(d) => {
            let n = (header_len(&b) as i64 + d).max(0) as u64;
            b[..8].copy_from_slice(&n.to_le_bytes());
        }
    }
    b
}

#[test]
fn unmutated_files_load() {
    for base in bases() {
        let mut out = Outcomes::default();
        check(&base.bytes, base, &mut None, &mut out).unwrap();
        assert_eq!(out.ok, 2, "both loads of the valid file succeed");
        println!("valid file of {} bytes: largest allocation during the loads {} bytes", base.bytes.len(), out.largest);
    }
}

/// Every bit of every byte flipped, one at a time: the length prefix, every character of the header (keys, values,
/// digits, JSON structure, the padding) and the tensor data. Every flip must be rejected.
#[test]
fn every_single_bit_flip_is_rejected() {
    let mut failed = Vec::new();
    for (which, base) in bases().iter().enumerate() {
        let header_end = 8 + header_len(&base.bytes);
        let mut by_class: std::collections::BTreeMap<&str, Outcomes> = Default::default();
        let mut target = None;
        for k in 0..base.bytes.len() {
            let class = match k {
                0..8 => "length prefix",
                _ if k >= header_end => "tensor data",
                _ => match base.bytes[k] {
                    b'0'..=b'9' => "header digits",
                    b'a'..=b'z' | b'A'..=b'Z' | b'_' | b'-' | b'.' => "header letters",
                    b' ' if base.bytes[k..header_end].iter().all(|&b| b == b' ') => "header padding",
                    _ => "header punctuation",
                },
            };
            let out = by_class.entry(class).or_default();
            for bit in 0..8 {
                let mut b = base.bytes.clone();
                b[k] ^= 1 << bit;
                if let Err(e) = check(&b, base, &mut target, out) {
                    failed.push(format!("file {which}, byte {k} bit {bit}: {e}"));
                }
            }
        }
        for (class, out) in &by_class {
            println!("file {which} ({} bytes), flips in the {class}: {}", base.bytes.len(), out.summary());
            if out.failures() > 0 {
                failed.push(format!("file {which}, {class}: {}; e.g. {:?}", out.summary(), out.examples));
            }
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}

/// Header lengths that claim far more than the file: safetensors bounds the header by the buffer before reading it.
#[test]
fn huge_header_lengths_allocate_nothing_big() {
    for base in bases() {
        let len = base.bytes.len() as u64;
        for n in [u64::MAX, u64::MAX / 2, u64::MAX / 2 + 1, 1 << 63, 1 << 40, 1 << 32, 100_000_000, 100_000_001, len - 7, len, len + 1] {
            let mut b = base.bytes.clone();
            b[..8].copy_from_slice(&n.to_le_bytes());
            let mut out = Outcomes::default();
            check(&b, base, &mut None, &mut out).unwrap_or_else(|e| panic!("header length {n}: {e}"));
            assert_eq!(out.corrupt, 2, "header length {n}: {}: {:?}", out.summary(), out.examples);
            assert!(out.largest <= allowed(b.len()), "header length {n}: allocated {}", out.largest);
        }
    }
}

#[test]
fn fuzz_load_and_load_weights() {
    let cases: u32 = std::env::var("LSTM_FUZZ_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(100_000);
    let bases = bases();
    let mut runner = TestRunner::new(Config { cases, failure_persistence: None, max_shrink_iters: 2000, ..Config::default() });
    let stats = std::cell::RefCell::new((Outcomes::default(), 0usize));
    let targets: Vec<std::cell::RefCell<Option<Model>>> = bases.iter().map(|_| std::cell::RefCell::new(None)).collect();
    let start = Instant::now();
    let strategy = (0..bases.len(), mutation());
    let result = runner.run(&strategy, |(which, m)| {
        let base = &bases[which];
        let bytes = apply(&base.bytes, &m);
        let mut s = stats.borrow_mut();
        s.1 += 1;
        let before = s.0.examples.len();
        check(&bytes, base, &mut targets[which].borrow_mut(), &mut s.0).map_err(|e| TestCaseError::fail(format!("{e}\nmutation {m:?}")))?;
        if s.0.examples.len() > before {
            let last = s.0.examples.pop().unwrap_or_default();
            s.0.examples.push(format!("{last} (mutation {m:?})"));
        }
        Ok(())
    });
    let elapsed = start.elapsed();
    let (out, inputs) = stats.into_inner();
    println!(
        "fuzz: {inputs} inputs, {} in {:.2} s ({:.1} µs per input); largest allocation {} bytes",
        out.summary(),
        elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1e6 / inputs.max(1) as f64,
        out.largest
    );
    if let Err(e) = result {
        panic!("{e}");
    }
    assert!(inputs >= cases as usize);
    assert_eq!(out.failures(), 0, "{}; e.g. {:#?}", out.summary(), out.examples);
    assert!(out.corrupt > 0, "the mutations should be rejected");
}
