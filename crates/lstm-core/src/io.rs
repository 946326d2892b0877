//! Weights I/O as safetensors. Tensor keys are the weight names (`1.weight_ih`), so PyTorch loads them by name;
//! optimizer state goes under `optimizer.<slot>.<name>`; the architecture is JSON in `__metadata__["model"]`
//! (the golden cases' `case` schema: layers, loss, optimizer). Saving writes a temporary file in the same folder
//! and renames it, so a crash leaves the old file or the new one, never half of one.

use crate::config::ModelConfig;
use crate::error::{LstmError, Result};
use crate::model::Model;
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::path::Path;

const FORMAT: &str = "lstm-native";
const OPTIMIZER_PREFIX: &str = "optimizer.";

impl Model {
    /// Writes the weights, the architecture, optional optimizer state and optional user metadata (a JSON string,
    /// e.g. a vocabulary).
    pub fn save(&self, path: &Path, include_optimizer: bool, user_metadata: Option<&str>) -> Result<()> {
        if !self.is_built() {
            return Err(LstmError::InvalidArgument("the model has no weights yet: give the first layer an inputShape, or fit it on data first".into()));
        }
        let le_bytes = |v: &[f32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
        let mut blobs: Vec<(String, Vec<usize>, Vec<u8>)> =
            self.entries().iter().map(|e| (e.name.clone(), e.shape.clone(), le_bytes(&self.params()[e.range.clone()]))).collect();
        let mut meta = HashMap::new();
        meta.insert("format".to_string(), FORMAT.to_string());
        meta.insert("model".to_string(), self.config().to_json());
        meta.insert("step".to_string(), self.step().to_string());
        if let Some(u) = user_metadata {
            meta.insert("user".to_string(), u.to_string());
        }
        if include_optimizer {
            if let Some(opt) = self.optimizer_state() {
                let (s1, s2) = opt.slot_names();
                for e in self.entries() {
                    blobs.push((format!("{OPTIMIZER_PREFIX}{s1}.{}", e.name), e.shape.clone(), le_bytes(&opt.s1[e.range.clone()])));
                    blobs.push((format!("{OPTIMIZER_PREFIX}{s2}.{}", e.name), e.shape.clone(), le_bytes(&opt.s2[e.range.clone()])));
                }
                meta.insert("optimizerStep".to_string(), opt.step.to_string());
            }
        }
        let views = blobs
            .iter()
            .map(|(name, shape, bytes)| {
                Ok((name.as_str(), TensorView::new(Dtype::F32, shape.clone(), bytes).map_err(|e| LstmError::InvalidArgument(e.to_string()))?))
            })
            .collect::<Result<Vec<_>>>()?;
        let bytes = safetensors::serialize(views, Some(meta)).map_err(|e| LstmError::InvalidArgument(format!("cannot serialise weights: {e}")))?;
        write_atomic(path, &bytes)
    }

    /// Reads a model saved by [`Model::save`]: architecture, weights and (when present) optimizer state.
    /// Returns the model and the user metadata string.
    pub fn load(path: &Path, num_threads: usize) -> Result<(Model, Option<String>)> {
        let bytes = read_file(path)?;
        Model::load_from_bytes(&bytes, path, num_threads)
    }

    /// [`Model::load`] on the bytes of a file already read; `path` only names the file in error messages.
    /// Never allocates much more than the file's size: an architecture needing more parameters than the file
    /// holds is refused before the model is built.
    pub fn load_from_bytes(bytes: &[u8], path: &Path, num_threads: usize) -> Result<(Model, Option<String>)> {
        let st = SafeTensors::deserialize(bytes).map_err(|e| LstmError::corrupt(path, format!("not a safetensors file: {e}")))?;
        let (_, header) = SafeTensors::read_metadata(bytes).map_err(|e| LstmError::corrupt(path, e.to_string()))?;
        let meta = header.metadata().clone().unwrap_or_default();
        let json = meta
            .get("model")
            .or_else(|| meta.get("case"))
            .ok_or_else(|| LstmError::corrupt(path, "no model architecture in __metadata__ (not an lstm-native file)"))?;
        let mut config = ModelConfig::from_json(json).map_err(|e| LstmError::corrupt(path, format!("bad architecture: {e}")))?;
        if config.input_dim.is_none() {
            // A float-input model saved by an older writer: the first weight's last axis is the feature size.
            if let Ok(t) = st.tensor("0.weight_ih").or_else(|_| st.tensor("0.weight")) {
                config.input_dim = t.shape().get(1).copied();
            }
        }
        // The architecture comes from the file, so it is untrusted: building it allocates params, grads and the
        // optimizer slots, so first check the file really holds that many parameters (a flipped digit in the JSON
        // must not ask for terabytes).
        let in_file: usize = st.tensors().iter().filter(|(name, _)| !name.starts_with(OPTIMIZER_PREFIX)).map(|(_, t)| t.data().len() / 4).sum();
        match Model::parameter_count(&config) {
            Err(e) => return Err(LstmError::corrupt(path, format!("bad architecture: {e}"))),
            Ok(Some(n)) if n > in_file => {
                return Err(LstmError::corrupt(path, format!("the architecture has {n} parameters but the file holds only {in_file} weights")))
            }
            _ => {}
        }
        let mut model = Model::new_for_load(config, num_threads).map_err(|e| LstmError::corrupt(path, format!("bad architecture: {e}")))?;
        if !model.is_built() {
            return Err(LstmError::corrupt(path, "the architecture does not say its input size"));
        }
        model.read_tensors(path, &st, true)?;
        if let Some(step) = meta.get("step").and_then(|s| s.parse().ok()) {
            model.set_step(step);
        }
        if let (Some(step), Some(opt)) = (meta.get("optimizerStep").and_then(|s| s.parse().ok()), model.optimizer_state_mut()) {
            opt.step = step;
        }
        Ok((model, meta.get("user").cloned()))
    }

    /// Loads only the weights into this model, whose architecture must be the file's.
    pub fn load_weights(&mut self, path: &Path) -> Result<()> {
        let bytes = read_file(path)?;
        self.load_weights_from_bytes(&bytes, path)
    }

    /// [`Model::load_weights`] on the bytes of a file already read; `path` only names the file in error messages.
    pub fn load_weights_from_bytes(&mut self, bytes: &[u8], path: &Path) -> Result<()> {
        let st = SafeTensors::deserialize(bytes).map_err(|e| LstmError::corrupt(path, format!("not a safetensors file: {e}")))?;
        if !self.is_built() {
            let first = st.tensor("0.weight_ih").or_else(|_| st.tensor("0.weight")).map_err(|_| LstmError::corrupt(path, "no first-layer weight"))?;
            // The input size is read from the file: only a real, non-empty matrix may set it (a [0, 2^40] tensor holds
            // no bytes yet would size the model at terabytes).
            let f = match first.shape() {
                &[rows, f] if rows > 0 && f > 0 => f,
                s => return Err(LstmError::corrupt(path, format!("first-layer weight has shape {s:?}, expected a non-empty matrix"))),
            };
            // Check the file on a throwaway model of this architecture built for `f` features before building this
            // one: building fixes the input size, so a bad file must not get that far (it would leave the model built
            // for the file's input size, and later refuse the right data).
            let mut probe_config = self.config().clone();
            probe_config.input_dim = Some(f);
            probe_config.loss = None;
            probe_config.optimizer = None;
            let mut probe = Model::new(probe_config, 1).map_err(|e| LstmError::corrupt(path, format!("first-layer weight does not fit: {e}")))?;
            probe.read_tensors(path, &st, false)?;
            let mut shape = vec![1, 1, f];
            if !self.config().layers[0].needs_sequence() {
                shape.remove(1);
            }
            self.check_input(&crate::Data::Floats(&vec![0.0; f], &shape))
                .map_err(|e| LstmError::corrupt(path, format!("first-layer weight does not fit: {e}")))?;
            self.params_mut().copy_from_slice(probe.params());
            return Ok(());
        }
        self.read_tensors(path, &st, false)
    }

    /// Copies every weight from `st` after checking names, dtypes and shapes all match, so a bad file changes nothing.
    fn read_tensors(&mut self, path: &Path, st: &SafeTensors, with_optimizer: bool) -> Result<()> {
        let mut staged: Vec<(std::ops::Range<usize>, Vec<f32>)> = Vec::new();
        for e in self.entries() {
            let t = st.tensor(&e.name).map_err(|_| LstmError::corrupt(path, format!("missing tensor {} (is it a file of another architecture?)", e.name)))?;
            staged.push((e.range.clone(), tensor_f32(path, &e.name, &t, &e.shape)?));
        }
        for name in st.names() {
            if !name.starts_with(OPTIMIZER_PREFIX) && !self.entries().iter().any(|e| e.name == name) {
                return Err(LstmError::corrupt(path, format!("unexpected tensor {name} (is it a file of another architecture?)")));
            }
        }
        let mut opt_staged: Vec<(bool, std::ops::Range<usize>, Vec<f32>)> = Vec::new();
        if with_optimizer {
            if let Some(opt) = self.optimizer_state() {
                let (s1, s2) = opt.slot_names();
                for e in self.entries() {
                    for (first, slot) in [(true, s1), (false, s2)] {
                        let key = format!("{OPTIMIZER_PREFIX}{slot}.{}", e.name);
                        if let Ok(t) = st.tensor(&key) {
                            opt_staged.push((first, e.range.clone(), tensor_f32(path, &key, &t, &e.shape)?));
                        }
                    }
                }
            }
        }
        for (r, v) in staged {
            self.params_mut()[r].copy_from_slice(&v);
        }
        if let Some(opt) = self.optimizer_state_mut() {
            for (first, r, v) in opt_staged {
                let slot = if first { &mut opt.s1 } else { &mut opt.s2 };
                slot[r].copy_from_slice(&v);
            }
        }
        Ok(())
    }
}

fn tensor_f32(path: &Path, name: &str, t: &TensorView, shape: &[usize]) -> Result<Vec<f32>> {
    if t.dtype() != Dtype::F32 {
        return Err(LstmError::corrupt(path, format!("tensor {name} is {:?}, expected F32", t.dtype())));
    }
    if t.shape() != shape {
        return Err(LstmError::corrupt(path, format!("tensor {name} has shape {:?}, expected {shape:?}", t.shape())));
    }
    let v: Vec<f32> = t.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
    if let Some(x) = v.iter().find(|x| !x.is_finite()) {
        return Err(LstmError::corrupt(path, format!("tensor {name} holds a non-finite value {x}")));
    }
    Ok(v)
}

fn read_file(path: &Path) -> Result<Vec<u8>> {
    let meta = fs::metadata(path).map_err(|e| LstmError::io(path, e))?;
    if meta.is_dir() {
        return Err(LstmError::io(path, "is a directory, not a weights file"));
    }
    // A device or a pipe (/dev/zero, /dev/stdin) could be read forever.
    if !meta.is_file() {
        return Err(LstmError::io(path, "is not a regular file"));
    }
    fs::read(path).map_err(|e| LstmError::io(path, e))
}

/// Writes `bytes` to `path` through a temporary file in the same folder and a rename. Never creates folders.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    if path.is_dir() {
        return Err(LstmError::io(path, "is a directory"));
    }
    let name = path.file_name().ok_or_else(|| LstmError::io(path, "has no file name"))?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        return Err(LstmError::io(path, format!("the folder {} does not exist (save never creates folders)", dir.display())));
    }
    remove_stale_temporaries(dir, &name.to_string_lossy());
    let nonce = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    let tmp = dir.join(format!(".{}.{}-{nonce}.tmp", name.to_string_lossy(), std::process::id()));
    let result = (|| {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(LstmError::io(path, e));
    }
    Ok(())
}

/// Removes the temporary files that earlier saves to the same target left when their process died mid-write
/// (`.NAME.<pid>-<nonce>.tmp` whose pid no longer runs). A temporary of a live process, ours included (another
/// thread may be saving to the same path), is left alone, as is anything not named like one of ours. Best effort: a
/// temporary that cannot be removed does not stop the save.
fn remove_stale_temporaries(dir: &Path, name: &str) {
    let prefix = format!(".{name}.");
    let Ok(entries) = fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let file = entry.file_name();
        let Some(pid) = file.to_str().and_then(|f| temporary_writer(f, &prefix)) else { continue };
        if pid != std::process::id() && !process_alive(pid) {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// The writer's pid when `file` is `{prefix}<pid>-<nonce>.tmp`.
fn temporary_writer(file: &str, prefix: &str) -> Option<u32> {
    let (pid, nonce) = file.strip_prefix(prefix)?.strip_suffix(".tmp")?.split_once('-')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(pid) || !digits(nonce) {
        return None;
    }
    pid.parse().ok()
}

/// Whether a process with this pid exists (signal 0 checks without sending; EPERM means it exists under another
/// user). A reused pid makes a dead writer look alive, which only keeps its temporary a while longer.
#[cfg(unix)]
fn process_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else { return true };
    if pid <= 0 {
        return true;
    }
    // SAFETY: kill with signal 0 sends nothing; it only checks that the process exists.
    unsafe { libc::kill(pid, 0) == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM) }
}

/// Elsewhere there is no cheap check, so no temporary is taken for dead.
#[cfg(not(unix))]
fn process_alive(_pid: u32) -> bool {
    true
}
