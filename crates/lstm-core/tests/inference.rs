//! Predictions that share a model's weights (`Model::predict_with`, `&self`): bit-identical to `Model::predict`, also
//! when several threads run them on one model at once, and whatever the compute pool (shared with a cap of one
//! thread, shared at one per core, or dedicated).

use lstm_core::{Data, Model, ModelConfig, Threads};

mod common;
use common::Lcg;

const LAYERS: &str = r#"[
    {"type":"embedding","inputDim":300,"outputDim":16,"maskZero":true},
    {"type":"dropout","rate":0.2},
    {"type":"lstm","units":24,"bidirectional":true,"returnSequences":true,"dropout":0.2},
    {"type":"lstm","units":32},
    {"type":"dense","units":40,"activation":"relu"},
    {"type":"dense","units":3,"activation":"softmax"}]"#;

fn model(threads: Threads) -> Model {
    let json = format!(r#"{{"layers": {LAYERS}, "seed": 5}}"#);
    Model::with_threads(ModelConfig::from_json(&json).unwrap(), threads).unwrap()
}

fn tokens(seed: u64, n: usize, t: usize) -> Vec<i32> {
    let mut r = Lcg(seed);
    (0..n * t).map(|k| if k % t < r.below(t / 2) { 0 } else { 1 + r.below(299) as i32 }).collect()
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

#[test]
fn shared_predictions_equal_predict_bit_for_bit_on_any_pool_and_from_many_threads_at_once() {
    let (n, t) = (37, 23);
    let x = tokens(1, n, t);
    let shape = [n, t];
    let data = Data::Tokens(&x, &shape);
    let mut reference = model(Threads::shared(0));
    let (want, want_shape) = reference.predict(&data, 8).unwrap();
    assert_eq!(want_shape, vec![n, 3]);

    for threads in [Threads::shared(1), Threads::shared(0), Threads::dedicated(2), Threads::dedicated(3)] {
        let m = model(threads);
        let results: Vec<Vec<f32>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4)
                .map(|k| {
                    let (m, x, shape) = (&m, &x, &shape);
                    s.spawn(move || {
                        let mut scratch = m.inference().unwrap();
                        // Different batch sizes: a row's result must not depend on the rows it is batched with.
                        let mut out = Vec::new();
                        for _ in 0..3 {
                            out = m.predict_with(&mut scratch, &Data::Tokens(x, shape), [1, 5, 8, 64][k]).unwrap().0;
                        }
                        out
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for r in results {
            assert_eq!(bits(&r), bits(&want), "{threads:?}");
        }
    }
}

#[test]
fn an_unbuilt_model_and_bad_input_are_errors() {
    let json = r#"{"layers": [{"type":"lstm","units":4},{"type":"dense","units":1}], "seed": 1}"#;
    let m = Model::new(ModelConfig::from_json(json).unwrap(), 1).unwrap();
    assert_eq!(m.inference().err().map(|e| e.code()), Some("INVALID_ARGUMENT"));

    let m = model(Threads::shared(1));
    let mut scratch = m.inference().unwrap();
    let x = vec![1, 2, 300];
    let e = m.predict_with(&mut scratch, &Data::Tokens(&x, &[1, 3]), 1).unwrap_err();
    assert_eq!(e.code(), "INDEX_OUT_OF_RANGE");
    // The buffers still work after the error.
    let ok = vec![1, 2, 3];
    assert!(m.predict_with(&mut scratch, &Data::Tokens(&ok, &[1, 3]), 1).is_ok());
}

/// `lstm_forward_final` on token ids through the table of `input_table` against the same function on the embedding's
/// rows copied out: the same final states bit for bit, forward and reversed, with and without a padding mask, for
/// lengths around its window of 8 steps and groups of samples of every size.
#[test]
fn table_input_gives_the_bits_of_the_embedded_rows() {
    use lstm_core::kernels::packed::PackedB;
    use lstm_core::layers::embedding::embedding_forward;
    use lstm_core::layers::lstm::{final_only_available, input_table, lstm_forward_final, FinalInput, LstmCache, LstmDims, LstmParams};
    if !final_only_available(5) {
        println!("the final-state path does not run at this SIMD level");
        return;
    }
    let (v, i, h) = (37usize, 11usize, 13usize);
    let mut r = Lcg(77);
    let mut rand = |len: usize| -> Vec<f32> { (0..len).map(|_| r.unit() - 0.5).collect() };
    let (e, w_ih, w_hh, b_ih, b_hh) = (rand(v * i), rand(4 * h * i), rand(4 * h * h), rand(4 * h), rand(4 * h));
    let p = LstmParams { w_ih: &w_ih, w_hh: &w_hh, b_ih: &b_ih, b_hh: &b_hh };
    let mut table = vec![0.0f32; v * 4 * h];
    input_table(i, &e, p, &mut PackedB::default(), &mut table);
    let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
    for (b, t) in [(5usize, 2usize), (7, 8), (40, 9), (70, 17)] {
        let ids = tokens(b as u64, b, t).iter().map(|&id| id % v as i32).collect::<Vec<i32>>();
        let mut x = vec![0.0f32; b * t * i];
        embedding_forward(i, &e, &ids, &mut x);
        let mask: Vec<u8> = ids.iter().map(|&id| (id != 0) as u8).collect();
        for reverse in [false, true] {
            for m in [None, Some(&mask[..])] {
                let dims = LstmDims { b, t, i, h };
                let run = |input: FinalInput| {
                    let mut out = vec![0.0f32; b * h];
                    pool.install(|| lstm_forward_final(dims, reverse, input, m, p, &mut LstmCache::default(), &mut out, h, 0));
                    bits(&out)
                };
                let (rows, gathered) = (run(FinalInput::Rows(&x)), run(FinalInput::Table { tokens: &ids, table: &table }));
                assert_eq!(rows, gathered, "b={b} t={t} reverse={reverse} mask={}", m.is_some());
            }
        }
    }
}

/// A batch of at most 4 samples over enough steps takes the final-state path too (`final_only_for_small`): each
/// sample's prediction then has the same bits alone, in a batch of 3 and inside a batch of 9, as a server that
/// coalesces single-sample calls needs. A wide LSTM or a short sequence stays on the streaming kernels.
#[test]
fn small_batches_over_long_sequences_give_the_bits_of_large_ones() {
    use lstm_core::layers::lstm::{final_only_available, final_only_for_small};
    if !final_only_available(1) {
        println!("no packed kernel at this SIMD level: the small batches keep the streaming kernels");
        return;
    }
    assert!(final_only_for_small(1, 64, 100) && !final_only_for_small(1, 63, 100) && !final_only_for_small(4, 200, 512));
    let json = r#"{"layers": [{"type":"embedding","inputDim":300,"outputDim":12},{"type":"lstm","units":20},
        {"type":"dense","units":3,"activation":"softmax"}], "seed": 9}"#;
    let t = 70;
    let x = tokens(3, 9, t);
    for threads in [1, 2] {
        let mut m = Model::new(ModelConfig::from_json(json).unwrap(), threads).unwrap();
        let (all, _) = m.predict(&Data::Tokens(&x, &[9, t]), 9).unwrap();
        for r in 0..9 {
            let (one, _) = m.predict(&Data::Tokens(&x[r * t..(r + 1) * t], &[1, t]), 1).unwrap();
            assert_eq!(bits(&one), bits(&all[r * 3..(r + 1) * 3]), "sample {r} alone, {threads} threads");
        }
        let (three, _) = m.predict(&Data::Tokens(&x[3 * t..6 * t], &[3, t]), 3).unwrap();
        assert_eq!(bits(&three), bits(&all[9..18]), "samples 3..6 as a batch of 3, {threads} threads");
    }
}
