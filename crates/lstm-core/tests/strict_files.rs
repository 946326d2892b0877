//! Stored files are parsed strictly and verified. Swept: every key of the stored architecture renamed (one changed
//! letter, as a flipped byte makes it) or removed, every metadata key renamed, impossible optimizer state, and damage
//! that the checksums catch. Files without checksums (other writers) are built by rewriting the saved file without
//! them, so the strict parsing is tested on its own; they still load when undamaged. Another safetensors reader (the
//! safetensors crate, with none of these checks) reads a checksummed file.

use lstm_core::{Data, Model, ModelConfig};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

type Tensors = Vec<(String, Vec<usize>, Vec<f32>)>;

fn saved(optimizer: &str) -> (Tensors, HashMap<String, String>, Vec<u8>) {
    let json = format!(
        r#"{{"layers":[{{"type":"embedding","inputDim":10,"outputDim":3,"maskZero":true}},{{"type":"lstm","units":2}},{{"type":"dense","units":1,"activation":"sigmoid"}}],"loss":"binary_crossentropy","optimizer":{optimizer},"seed":4}}"#
    );
    let mut m = Model::new(ModelConfig::from_json(&json).unwrap(), 1).unwrap();
    m.train_step(&Data::Tokens(&[1, 2, 3, 0, 4, 5], &[2, 3]), &Data::Floats(&[1.0, 0.0], &[2, 1])).unwrap();
    let p = dir().join(format!("base-{}.safetensors", optimizer.len()));
    m.save(&p, true, Some(r#"{"vocabulary":["<pad>","a"]}"#)).unwrap();
    let bytes = std::fs::read(&p).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let tensors = st
        .tensors()
        .into_iter()
        .map(|(n, t)| (n, t.shape().to_vec(), t.data().chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect()))
        .collect();
    let (_, header) = SafeTensors::read_metadata(&bytes).unwrap();
    (tensors, header.metadata().clone().unwrap(), bytes)
}

fn dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("lstm-core-strict-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Writes a file as another writer would: these tensors and metadata, no checksums unless `meta` has them.
fn write(path: &Path, tensors: &Tensors, meta: &HashMap<String, String>) {
    let bytes: Vec<Vec<u8>> = tensors.iter().map(|(_, _, v)| v.iter().flat_map(|x| x.to_le_bytes()).collect()).collect();
    let views: Vec<(&str, TensorView)> =
        tensors.iter().zip(&bytes).map(|((n, s, _), b)| (n.as_str(), TensorView::new(Dtype::F32, s.clone(), b).unwrap())).collect();
    std::fs::write(path, safetensors::serialize(views, Some(meta.clone())).unwrap()).unwrap();
}

fn without_checksums(meta: &HashMap<String, String>) -> HashMap<String, String> {
    meta.iter().filter(|(k, _)| *k != "checksums" && *k != "headerChecksum").map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// Every key path of a JSON value, with a function to rebuild the value with that key renamed or removed.
fn key_paths(v: &serde_json::Value, at: Vec<String>, out: &mut Vec<Vec<String>>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, sub) in m {
                let mut p = at.clone();
                p.push(k.clone());
                out.push(p.clone());
                key_paths(sub, p, out);
            }
        }
        serde_json::Value::Array(a) => {
            for (i, sub) in a.iter().enumerate() {
                let mut p = at.clone();
                p.push(format!("#{i}"));
                key_paths(sub, p, out);
            }
        }
        _ => {}
    }
}

fn edit(v: &mut serde_json::Value, path: &[String], rename: bool) {
    let (last, parents) = path.split_last().unwrap();
    let mut cur = v;
    for p in parents {
        cur = match p.strip_prefix('#') {
            Some(i) => &mut cur[i.parse::<usize>().unwrap()],
            None => &mut cur[p.as_str()],
        };
    }
    let obj = cur.as_object_mut().unwrap();
    let val = obj.remove(last).unwrap();
    if rename {
        obj.insert(damaged(last), val);
    }
}

/// The key with its last letter changed, as one flipped bit changes it.
fn damaged(key: &str) -> String {
    let mut b = key.as_bytes().to_vec();
    *b.last_mut().unwrap() ^= 0x02;
    String::from_utf8(b).unwrap()
}

fn expect_corrupt(failures: &mut Vec<String>, what: &str, path: &Path, mention: &str) {
    match Model::load(path, 1) {
        Err(e) if e.code() == "CORRUPT_WEIGHTS" && e.to_string().contains(mention) => {}
        Err(e) => failures.push(format!("{what}: {}: {e} (should be CORRUPT_WEIGHTS naming {mention:?})", e.code())),
        Ok(_) => failures.push(format!("{what}: loaded")),
    }
}

#[test]
fn stored_keys_are_parsed_strictly() {
    let (tensors, meta, _) = saved(r#"{"type":"adam","learningRate":0.01}"#);
    let plain = without_checksums(&meta);
    let p = dir().join("keys.safetensors");
    write(&p, &tensors, &plain);
    Model::load(&p, 1).expect("a file without checksums still loads");
    let mut failures = Vec::new();
    let model: serde_json::Value = serde_json::from_str(&plain["model"]).unwrap();
    let mut paths = Vec::new();
    key_paths(&model, vec![], &mut paths);
    assert!(paths.len() > 30, "the architecture has {} keys", paths.len());
    // Keys save leaves out when they are unset: without checksums, a file without them is a model without them.
    let optional = ["loss", "optimizer", "inputDim", "inputShape", "strides"];
    for path in &paths {
        let key = path.last().unwrap();
        for rename in [true, false] {
            if !rename && optional.contains(&key.as_str()) {
                continue;
            }
            let mut m = model.clone();
            edit(&mut m, path, rename);
            let mut meta = plain.clone();
            meta.insert("model".into(), m.to_string());
            write(&p, &tensors, &meta);
            // A layer's renamed `type` is reported as the missing tag: serde reads the tag before the other keys.
            let named = if rename && key != "type" { damaged(key) } else { key.clone() };
            expect_corrupt(&mut failures, &format!("{} {}", if rename { "renamed" } else { "removed" }, path.join(".")), &p, &named);
        }
    }
    for key in plain.keys() {
        let mut meta = plain.clone();
        let v = meta.remove(key).unwrap();
        meta.insert(damaged(key), v);
        write(&p, &tensors, &meta);
        expect_corrupt(&mut failures, &format!("metadata key {key} renamed"), &p, &damaged(key));
    }
    for (key, value) in [("step", "x"), ("optimizerStep", "-1"), ("format", "lstm-nativf")] {
        let mut meta = plain.clone();
        meta.insert(key.into(), value.into());
        write(&p, &tensors, &meta);
        expect_corrupt(&mut failures, &format!("metadata {key} = {value}"), &p, key);
    }
    println!("{} architecture keys renamed and removed, {} metadata keys renamed", paths.len(), plain.len());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn impossible_optimizer_state_is_rejected() {
    let mut failures = Vec::new();
    let p = dir().join("opt.safetensors");
    for (optimizer, slot, value, _why) in [
        (r#""adam""#, "optimizer.v.", -1e-3, "negative"),
        (r#""adam""#, "optimizer.m.", f32::INFINITY, "non-finite"),
        (r#""adam""#, "optimizer.v.", f32::NAN, "non-finite"),
        (r#""rmsprop""#, "optimizer.rms.", -1.0, "negative"),
        (r#""rmsprop""#, "optimizer.momentum.", 0.5, "no momentum"),
        (r#""sgd""#, "optimizer.velocity.", 0.5, "no velocity"),
        (r#""sgd""#, "optimizer.unused.", 0.5, "no second state"),
    ] {
        let (mut tensors, meta, _) = saved(optimizer);
        let plain = without_checksums(&meta);
        let t = tensors.iter_mut().find(|(n, _, _)| n.starts_with(slot)).unwrap_or_else(|| panic!("{optimizer}: no {slot}"));
        t.2[0] = value;
        let name = t.0.clone();
        write(&p, &tensors, &plain);
        expect_corrupt(&mut failures, &format!("{optimizer}: {name}[0] = {value}"), &p, &name);
    }
    let (tensors, meta, _) = saved(r#""adam""#);
    let plain = without_checksums(&meta);
    let first_slot = tensors.iter().position(|(n, _, _)| n.starts_with("optimizer.")).unwrap();
    let mut missing = tensors.clone();
    let gone = missing.remove(first_slot).0;
    write(&p, &missing, &plain);
    expect_corrupt(&mut failures, "a missing optimizer tensor", &p, &gone);
    let mut extra = tensors.clone();
    extra.push(("optimizer.w.2.weight".into(), vec![1], vec![0.0]));
    write(&p, &extra, &plain);
    expect_corrupt(&mut failures, "an optimizer tensor of no slot", &p, "optimizer.w.2.weight");
    let mut no_step = plain.clone();
    no_step.remove("optimizerStep");
    write(&p, &tensors, &no_step);
    expect_corrupt(&mut failures, "state without optimizerStep", &p, "optimizerStep");
    let mut step0 = plain.clone();
    step0.insert("optimizerStep".into(), "0".into());
    write(&p, &tensors, &step0);
    expect_corrupt(&mut failures, "state after no update", &p, "optimizerStep 0");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn checksums_catch_damage_and_other_readers_still_read_the_file() {
    let (tensors, meta, bytes) = saved(r#""adam""#);
    // Another reader: every tensor and the metadata as saved.
    let st = SafeTensors::deserialize(&bytes).expect("the safetensors crate reads a checksummed file");
    assert_eq!(st.names().len(), tensors.len());
    assert!(meta.contains_key("checksums") && meta.contains_key("headerChecksum"));
    let p = dir().join("sums.safetensors");
    let mut failures = Vec::new();
    let header_end = 8 + u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    // A value inside the user metadata (still valid JSON, so only the header checksum can tell), and a byte of each
    // tensor.
    let user_at = header_end - 8 + bytes[8..header_end].windows(7).position(|w| w == b"<pad>\\\"").unwrap() - (header_end - 8 - 8);
    let mut b = bytes.clone();
    b[user_at + 1] ^= 0x01;
    std::fs::write(&p, &b).unwrap();
    expect_corrupt(&mut failures, "a letter of the user metadata", &p, "header fails its checksum");
    for (name, t) in st.tensors() {
        let offset = t.data().as_ptr() as usize - bytes.as_ptr() as usize;
        let mut b = bytes.clone();
        b[offset] ^= 0x10;
        std::fs::write(&p, &b).unwrap();
        expect_corrupt(&mut failures, &format!("a byte of {name}"), &p, &name);
    }
    // The same file without its checksums still loads, and a damaged checksum key is refused.
    write(&p, &tensors, &without_checksums(&meta));
    if let Err(e) = Model::load(&p, 1) {
        failures.push(format!("the file without checksums: {e}"));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
