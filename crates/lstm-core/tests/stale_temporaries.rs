//! A save killed mid-write leaves its temporary file (`.NAME.<pid>-<nonce>.tmp`) beside the target. The next save to
//! the same target removes every such temporary whose writer is gone, and nothing else: not the temporaries of live
//! writers (this process's, or another running process's), not those of other targets, not look-alike names.
#![cfg(unix)]

use lstm_core::{Model, ModelConfig};
use std::fs;
use std::path::PathBuf;
use std::process::Command;

fn model() -> Model {
    let json =
        r#"{"layers":[{"type":"embedding","inputDim":5,"outputDim":2},{"type":"lstm","units":2},{"type":"dense","units":1}],"loss":"mse","optimizer":"sgd"}"#;
    Model::new(ModelConfig::from_json(json).unwrap(), 1).unwrap()
}

/// Pids of processes that have exited and been reaped.
fn dead_pids(n: usize) -> Vec<u32> {
    (0..n)
        .map(|_| {
            let mut child = Command::new("true").spawn().expect("spawn true");
            let pid = child.id();
            child.wait().unwrap();
            pid
        })
        .collect()
}

fn listing(dir: &PathBuf) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    v.sort();
    v
}

#[test]
fn the_next_save_removes_temporaries_of_dead_writers_of_the_same_target() {
    let dir = std::env::temp_dir().join(format!("lstm-core-stale-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    let target = dir.join("m.safetensors");
    let dead = dead_pids(3);
    // A live process that is not this one.
    let mut sleeper = Command::new("sleep").arg("30").spawn().expect("spawn sleep");
    let (me, other) = (std::process::id(), sleeper.id());

    let stale: Vec<String> = dead.iter().enumerate().map(|(k, pid)| format!(".m.safetensors.{pid}-{}.tmp", 1000 + k)).collect();
    let kept = [
        format!(".m.safetensors.{me}-5.tmp"),        // a save of this process in flight
        format!(".m.safetensors.{other}-6.tmp"),     // a save of another live process
        format!(".n.safetensors.{}-7.tmp", dead[0]), // another target's
        format!(".m.safetensors.{}-x.tmp", dead[0]), // not our pattern
        format!(".m.safetensors.{}.tmp", dead[0]),   // not our pattern
        format!("m.safetensors.{}-8.tmp", dead[0]),  // no leading dot
        format!(".m.safetensors.{}-9.tmp.bak", dead[0]),
        "m.safetensors.bak".to_string(),
    ];
    for f in stale.iter().chain(&kept) {
        fs::write(dir.join(f), b"partial").unwrap();
    }
    model().save(&target, true, None).unwrap();
    let mut expected: Vec<String> = kept.iter().cloned().chain(["m.safetensors".to_string()]).collect();
    expected.sort();
    let left = listing(&dir);
    let _ = sleeper.kill();
    let _ = sleeper.wait();
    let _ = fs::remove_dir_all(&dir);
    assert_eq!(left, expected, "stale temporaries {stale:?} must go, the rest stay");
}
