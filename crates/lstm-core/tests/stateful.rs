//! Stateful inference: stepping one token at a time with `predict_step` gives what `predict` gives on the whole
//! sequence, and `reset_states` starts over.

use lstm_core::{Data, Model, ModelConfig};

fn model(mask_zero: bool) -> Model {
    let json = format!(
        r#"{{"layers": [{{"type":"embedding","inputDim":20,"outputDim":6,"maskZero":{mask_zero}}},
            {{"type":"lstm","units":8,"returnSequences":true}}, {{"type":"lstm","units":7}},
            {{"type":"dense","units":5,"activation":"softmax"}}], "seed": 3}}"#
    );
    Model::new(ModelConfig::from_json(&json).unwrap(), 2).unwrap()
}

fn check(mask_zero: bool, tokens: &[i32]) {
    let (b, t) = (2, tokens.len() / 2);
    let mut m = model(mask_zero);
    let (whole, _) = m.predict(&Data::Tokens(tokens, &[b, t]), 8).unwrap();
    let mut last = Vec::new();
    for s in 0..t {
        let step: Vec<i32> = (0..b).map(|bi| tokens[bi * t + s]).collect();
        last = m.predict_step(&Data::Tokens(&step, &[b, 1])).unwrap().0;
    }
    for (a, w) in last.iter().zip(&whole) {
        assert!((a - w).abs() < 1e-5, "stepped {a} vs whole {w}");
    }
    // After a reset the first step matches a one-token sequence.
    m.reset_states();
    let first: Vec<i32> = (0..b).map(|bi| tokens[bi * t]).collect();
    let stepped = m.predict_step(&Data::Tokens(&first, &[b, 1])).unwrap().0;
    let (direct, _) = m.predict(&Data::Tokens(&first, &[b, 1]), 8).unwrap();
    assert_eq!(stepped, direct);
}

#[test]
fn stepping_matches_whole_sequence() {
    check(false, &[3, 7, 1, 9, 12, 4, 5, 5, 2, 19, 0, 8]);
}

#[test]
fn stepping_keeps_state_over_masked_steps() {
    check(true, &[0, 0, 1, 9, 12, 4, 5, 0, 2, 19, 3, 8]);
}

#[test]
fn bidirectional_cannot_step() {
    let json = r#"{"layers": [{"type":"embedding","inputDim":5,"outputDim":2}, {"type":"lstm","units":2,"bidirectional":true}]}"#;
    let mut m = Model::new(ModelConfig::from_json(json).unwrap(), 1).unwrap();
    let e = m.predict_step(&Data::Tokens(&[1], &[1, 1])).unwrap_err();
    assert_eq!(e.code(), "INVALID_ARGUMENT");
}
