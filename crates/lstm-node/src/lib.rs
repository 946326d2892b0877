//! lstm-node: the napi-rs binding of lstm-core. It only converts values, maps errors and runs work off the JS
//! thread, on job threads shared by every model (`worker`), settling a promise for each job; nothing blocks the JS
//! thread or the libuv pool.
//!
//! A model sits behind a read-write lock. Predictions take it for reading, so any number run at once on one model
//! (each on buffers of its own, `lstm_core::Inference`). Everything that changes the model takes it for writing:
//! the jobs (training, evaluation, loading weights) wait for the predictions in flight, while the calls made on the
//! JS thread (compile, setWeights, ...) cannot wait and fail with MODEL_BUSY.

mod errors;
mod worker;

use errors::{busy, from_core, run_caught};
use lstm_core::{mem, Data, Inference, LossConfig, Model, ModelConfig, OptimizerConfig, Threads};
use napi::bindgen_prelude::*;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi_derive::napi;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard, TryLockError};
use worker::Strand;

/// An owned copy of the caller's data: copied once per call, so JS may mutate its buffer while we train.
enum OwnedData {
    Tokens(Vec<i32>, Vec<usize>),
    Floats(Vec<f32>, Vec<usize>),
}

impl OwnedData {
    fn from_js(data: Either<Int32Array, Float32Array>, shape: Vec<u32>) -> Result<Self> {
        let shape: Vec<usize> = shape.into_iter().map(|d| d as usize).collect();
        let expected: usize = shape.iter().product();
        // The copy is as large as the caller's array: fallible, so too large a one is OUT_OF_MEMORY, not an abort.
        let what = || format!("a copy of a tensor of shape {shape:?}");
        let (len, owned) = match data {
            Either::A(t) => (t.len(), OwnedData::Tokens(mem::copied(&t, what).map_err(from_core)?, shape.clone())),
            Either::B(f) => (f.len(), OwnedData::Floats(mem::copied(&f, what).map_err(from_core)?, shape.clone())),
        };
        if len != expected {
            return Err(from_core(lstm_core::LstmError::ShapeMismatch {
                what: "tensor data length, for its shape".into(),
                expected: format!("{expected} (shape {shape:?})"),
                got: len.to_string(),
            }));
        }
        Ok(owned)
    }

    fn view(&self) -> Data<'_> {
        match self {
            OwnedData::Tokens(v, s) => Data::Tokens(v, s),
            OwnedData::Floats(v, s) => Data::Floats(v, s),
        }
    }
}

/// A training set held by the model between `fit` batches (x and y copied once, checked once).
struct Dataset {
    x: OwnedData,
    y: OwnedData,
}

struct Shared {
    model: RwLock<Model>,
    /// Inference buffers of finished predictions, reused by the next ones.
    spare: Mutex<Vec<Inference>>,
    /// Predictions submitted and not yet settled. Counted from the call on the JS thread, not from when a job
    /// thread takes the read lock: a prediction is in flight as soon as its promise exists.
    predicting: Mutex<usize>,
    /// Signalled when `predicting` falls to 0.
    predictions_done: Condvar,
    datasets: Mutex<HashMap<u32, Arc<Dataset>>>,
    /// Set by `requestStop`; the training loop checks it between batches.
    stop: AtomicBool,
}

#[napi(object)]
pub struct TensorOut {
    pub data: Float32Array,
    pub shape: Vec<u32>,
}

#[napi(object)]
pub struct NamedTensor {
    pub name: String,
    pub data: Float32Array,
    pub shape: Vec<u32>,
}

#[napi(object)]
pub struct EvalResult {
    pub loss: f64,
    pub accuracy: f64,
}

#[napi(object)]
pub struct BatchProgress {
    /// Index of the batch within this call's run.
    pub batch: u32,
    pub loss: f64,
    pub accuracy: f64,
}

#[napi(object)]
pub struct LayerSummary {
    pub kind: String,
    pub output_shape: Vec<Option<u32>>,
    pub params: u32,
}

/// The SIMD level the kernels run at: `scalar`, `avx2` or `avx512` (the best this CPU has, or the cap
/// `LSTM_NATIVE_SIMD` sets). Fails with INVALID_CONFIG when `LSTM_NATIVE_SIMD` names an unknown level or one this CPU
/// lacks. (The default thread count is the TypeScript side's, which picks it for `Sequential`.)
#[napi]
pub fn simd_level() -> Result<String> {
    Ok(lstm_core::kernels::simd::level().map_err(from_core)?.name().to_string())
}

fn to_u32s(v: &[usize]) -> Vec<u32> {
    v.iter().map(|&d| d as u32).collect()
}

/// The most inference buffers a model keeps between predictions (one per prediction running at once, at most).
const SPARE_BUFFERS: usize = 16;

#[napi]
pub struct NativeModel {
    shared: Arc<Shared>,
    /// The model's exclusive jobs, in order.
    strand: Strand,
    next_dataset: u32,
}

/// How a model's compute threads are chosen: a cap on the shared pools, or a pool of its own.
fn threads(num_threads: u32, dedicated: Option<bool>) -> Threads {
    if dedicated.unwrap_or(false) {
        Threads::dedicated(num_threads as usize)
    } else {
        Threads::shared(num_threads as usize)
    }
}

impl NativeModel {
    fn from_model(model: Model) -> Self {
        NativeModel {
            shared: Arc::new(Shared {
                model: RwLock::new(model),
                spare: Mutex::new(Vec::new()),
                predicting: Mutex::new(0),
                predictions_done: Condvar::new(),
                datasets: Mutex::new(HashMap::new()),
                stop: AtomicBool::new(false),
            }),
            strand: Strand::new(),
            next_dataset: 1,
        }
    }

    /// Reads the model for a call made on the JS thread; fails fast with MODEL_BUSY while a job changes it.
    fn try_read(&self) -> Result<RwLockReadGuard<'_, Model>> {
        match self.shared.model.try_read() {
            Ok(m) => Ok(m),
            Err(TryLockError::WouldBlock) => Err(busy()),
            Err(TryLockError::Poisoned(p)) => Ok(p.into_inner()),
        }
    }

    /// Changes the model from the JS thread; fails fast with MODEL_BUSY while a job holds it or predictions are
    /// in flight.
    fn try_model(&self) -> Result<RwLockWriteGuard<'_, Model>> {
        if *self.shared.predicting.lock().unwrap_or_else(|p| p.into_inner()) > 0 {
            return Err(busy());
        }
        match self.shared.model.try_write() {
            Ok(m) => Ok(m),
            Err(TryLockError::WouldBlock) => Err(busy()),
            Err(TryLockError::Poisoned(p)) => Ok(p.into_inner()),
        }
    }

    /// A dataset added with `addDataset`.
    fn dataset(&self, id: u32) -> Result<Arc<Dataset>> {
        let ds = self.shared.datasets.lock().unwrap_or_else(|p| p.into_inner()).get(&id).cloned();
        ds.ok_or_else(|| from_core(lstm_core::LstmError::InvalidArgument(format!("no dataset {id}"))))
    }

    /// Runs `job` after the model's earlier exclusive jobs and returns a promise of its result.
    fn spawn<'env, T, F>(&self, env: &'env Env, job: F) -> Result<Object<'env>>
    where
        T: ToNapiValue + Send + 'static,
        F: FnOnce(&Shared) -> Result<T> + Send + 'static,
    {
        let (deferred, promise) = env.create_deferred::<T, Box<dyn FnOnce(Env) -> Result<T>>>()?;
        let shared = self.shared.clone();
        self.strand.submit(settling(deferred, move || job(&shared)))?;
        Ok(promise)
    }
}

/// A job that settles `deferred` with the result of `f` (a panic becomes INTERNAL).
fn settling<T: ToNapiValue + Send + 'static>(
    deferred: napi::JsDeferred<T, Box<dyn FnOnce(Env) -> Result<T>>>,
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> worker::Job {
    Box::new(move || match run_caught(f) {
        Ok(v) => deferred.resolve(Box::new(move |_| Ok(v))),
        Err(e) => deferred.reject(e),
    })
}

/// The model, for a job that changes it: waits for the predictions in flight (those submitted before it, and any
/// submitted while it waits), so that each of them reads the weights as they were when it was made.
fn lock(shared: &Shared) -> RwLockWriteGuard<'_, Model> {
    let mut n = shared.predicting.lock().unwrap_or_else(|p| p.into_inner());
    while *n > 0 {
        n = shared.predictions_done.wait(n).unwrap_or_else(|p| p.into_inner());
    }
    drop(n);
    write(shared)
}

/// The model for writing, without waiting for the predictions counted in flight (a prediction itself building
/// the model takes it this way). Inference buffers made for the model as it was are dropped, since the writer may
/// rebuild its layers.
fn write(shared: &Shared) -> RwLockWriteGuard<'_, Model> {
    let m = shared.model.write().unwrap_or_else(|p| p.into_inner());
    shared.spare.lock().unwrap_or_else(|p| p.into_inner()).clear();
    m
}

/// Counts one prediction in flight from its submission until its promise settles (or it fails to be submitted, or
/// the environment goes away and the settling is dropped).
struct InFlight(Arc<Shared>);

impl InFlight {
    fn new(shared: &Arc<Shared>) -> InFlight {
        *shared.predicting.lock().unwrap_or_else(|p| p.into_inner()) += 1;
        InFlight(shared.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut n = self.0.predicting.lock().unwrap_or_else(|p| p.into_inner());
        *n -= 1;
        if *n == 0 {
            self.0.predictions_done.notify_all();
        }
    }
}

/// One `predict` call: counted in flight from its submission until its promise settles on the JS thread, so that
/// from JS the model is busy for the promise's whole life, not up to a moment on another thread it cannot observe.
struct Prediction {
    in_flight: InFlight,
    x: OwnedData,
    batch_size: usize,
    deferred: napi::JsDeferred<TensorOut, Box<dyn FnOnce(Env) -> Result<TensorOut>>>,
}

impl Prediction {
    fn settle(self, result: Result<TensorOut>) {
        let in_flight = self.in_flight;
        self.deferred.resolve(Box::new(move |_| {
            drop(in_flight);
            result
        }))
    }

    /// On a thread of the model's pool: runs if the model can be read without waiting, else moves to a job thread.
    fn run_on_pool(self) {
        let read = |m: &Model| {
            run_caught(|| predict_read(&self.in_flight.0, m, &self.x, self.batch_size))
                .map(|(data, shape)| TensorOut { data: Float32Array::new(data), shape: to_u32s(&shape) })
        };
        let result = match self.in_flight.0.model.try_read() {
            Ok(m) if m.is_built() => Some(read(&m)),
            Err(TryLockError::Poisoned(p)) if p.get_ref().is_built() => Some(read(&p.into_inner())),
            _ => None,
        };
        match result {
            Some(r) => self.settle(r),
            None => self.run_on_job_thread(),
        }
    }

    /// On a job thread, which may wait for the model (or settled with the error when no job thread can be started).
    fn run_on_job_thread(self) {
        // The job and this function share the prediction: whichever takes it settles it.
        let slot = Arc::new(Mutex::new(Some(self)));
        let take = |slot: &Mutex<Option<Prediction>>| slot.lock().unwrap_or_else(|e| e.into_inner()).take();
        let taken = slot.clone();
        let job = Box::new(move || {
            if let Some(p) = take(&taken) {
                let result = run_caught(|| predict_shared(&p.in_flight.0, &p.x, p.batch_size));
                p.settle(result)
            }
        });
        if let Err(e) = worker::predictions().submit(job) {
            if let Some(p) = take(&slot) {
                p.settle(Err(e))
            }
        }
    }
}

/// Inference that shares the model with other predictions; a model not built yet (a float input whose size the
/// first data sets) is built by a prediction that holds it alone.
fn predict_shared(shared: &Shared, x: &OwnedData, batch_size: usize) -> Result<TensorOut> {
    let (data, shape) = {
        let m = shared.model.read().unwrap_or_else(|p| p.into_inner());
        if m.is_built() {
            predict_read(shared, &m, x, batch_size)?
        } else {
            drop(m);
            write(shared).predict(&x.view(), batch_size).map_err(from_core)?
        }
    };
    Ok(TensorOut { data: Float32Array::new(data), shape: to_u32s(&shape) })
}

/// [`Model::predict_with`] on a spare inference buffer (or a new one), which is kept for the next prediction.
fn predict_read(shared: &Shared, m: &Model, x: &OwnedData, batch_size: usize) -> Result<(Vec<f32>, Vec<usize>)> {
    let spare = shared.spare.lock().unwrap_or_else(|p| p.into_inner()).pop();
    let mut scratch = match spare {
        Some(s) => s,
        None => m.inference().map_err(from_core)?,
    };
    let out = m.predict_with(&mut scratch, &x.view(), batch_size).map_err(from_core)?;
    let mut spare = shared.spare.lock().unwrap_or_else(|p| p.into_inner());
    if spare.len() < SPARE_BUFFERS {
        spare.push(scratch);
    }
    Ok(out)
}

#[napi]
impl NativeModel {
    /// `configJson`: `{"layers": [...], "seed": n}` (the core's ModelConfig). `numThreads` 0 = one per core: a cap
    /// on the process's shared compute pools, or the size of the model's own pool with `dedicatedPool`.
    #[napi(constructor, catch_unwind)]
    pub fn new(config_json: String, num_threads: u32, dedicated_pool: Option<bool>) -> Result<Self> {
        let config = ModelConfig::from_json(&config_json).map_err(from_core)?;
        let model = Model::with_threads(config, threads(num_threads, dedicated_pool)).map_err(from_core)?;
        Ok(NativeModel::from_model(model))
    }

    /// Loads a model saved with `save`; resolves to `[model, userMetadataJson | null]`.
    #[napi(ts_return_type = "Promise<[NativeModel, string | null]>")]
    pub fn load<'env>(env: &'env Env, path: String, num_threads: u32, dedicated_pool: Option<bool>) -> Result<Object<'env>> {
        let (deferred, promise) = env.create_deferred::<(NativeModel, Option<String>), _>()?;
        let threads = threads(num_threads, dedicated_pool);
        worker::long_jobs().submit(Box::new(move || {
            let result = run_caught(|| Model::load_with(&PathBuf::from(&path), threads).map_err(from_core));
            match result {
                Ok((model, meta)) => deferred.resolve(move |_| Ok((NativeModel::from_model(model), meta))),
                Err(e) => deferred.reject(e),
            }
        }))?;
        Ok(promise)
    }

    /// The most compute threads the model's work uses, and whether they are a pool of its own.
    #[napi(catch_unwind, ts_return_type = "[number, boolean]")]
    pub fn threads(&self) -> Result<(u32, bool)> {
        let m = self.try_read()?;
        Ok((m.num_threads() as u32, m.has_dedicated_pool()))
    }

    /// The model's configuration as JSON (layers, loss, optimizer, seed, inputDim).
    #[napi(catch_unwind)]
    pub fn config_json(&self) -> Result<String> {
        Ok(self.try_read()?.config().to_json())
    }

    #[napi(catch_unwind)]
    pub fn is_built(&self) -> Result<bool> {
        Ok(self.try_read()?.is_built())
    }

    /// Sets the loss and optimizer from their JSON configs (fresh optimizer state).
    #[napi(catch_unwind)]
    pub fn compile(&self, loss_json: String, optimizer_json: String) -> Result<()> {
        let loss: LossConfig = lstm_core::config::parse_json("loss", &loss_json).map_err(from_core)?;
        let opt: OptimizerConfig = lstm_core::config::parse_json("optimizer", &optimizer_json).map_err(from_core)?;
        self.try_model()?.compile(loss, opt).map_err(from_core)
    }

    /// Output shape (None = any length) and parameter count of each layer.
    #[napi(catch_unwind)]
    pub fn summary(&self) -> Result<Vec<LayerSummary>> {
        let m = self.try_read()?;
        let shapes = m.layer_output_shapes(0, Some(0));
        let counts = m.layer_param_counts();
        let built = m.is_built();
        Ok(m.config()
            .layers
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let s = shapes[i];
                let mut dims = vec![None];
                if s.t.is_some() {
                    dims.push(None);
                }
                dims.push(Some(s.f as u32));
                LayerSummary { kind: l.kind().into(), output_shape: dims, params: if built { counts[i] as u32 } else { 0 } }
            })
            .collect())
    }

    /// Copies and checks a training set on the worker thread; resolves to its id for `trainBatches`.
    #[napi(ts_return_type = "Promise<number>")]
    pub fn add_dataset<'env>(
        &mut self,
        env: &'env Env,
        x: Either<Int32Array, Float32Array>,
        x_shape: Vec<u32>,
        y: Either<Int32Array, Float32Array>,
        y_shape: Vec<u32>,
    ) -> Result<Object<'env>> {
        let id = self.next_dataset;
        self.next_dataset += 1;
        let x = OwnedData::from_js(x, x_shape)?;
        let y = OwnedData::from_js(y, y_shape)?;
        self.spawn(env, move |shared| {
            lock(shared).check_dataset(&x.view(), &y.view()).map_err(from_core)?;
            shared.datasets.lock().unwrap_or_else(|p| p.into_inner()).insert(id, Arc::new(Dataset { x, y }));
            Ok(id)
        })
    }

    #[napi]
    pub fn remove_dataset(&self, id: u32) {
        self.shared.datasets.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
    }

    /// The seeded row order of an epoch (the same on every thread count).
    #[napi(catch_unwind)]
    pub fn epoch_order(&self, n: u32, epoch: u32) -> Result<Uint32Array> {
        let order = self.try_read()?.epoch_order(n as usize, epoch as u64).map_err(from_core)?;
        let what = || format!("the row order of an epoch of {n} rows");
        Ok(Uint32Array::new(mem::collected(order.len(), order.into_iter().map(|i| i as u32), what).map_err(from_core)?))
    }

    /// Trains `numBatches` batches of `batchSize` rows taken from `order` starting at batch `firstBatch`.
    /// Resolves to `[loss0, acc0, loss1, acc1, ...]`, one pair per batch run; stops early after `requestStop`.
    /// `onBatch`, when given, hears of each batch through a weak threadsafe function (it never keeps Node alive).
    #[napi(ts_return_type = "Promise<Float64Array>")]
    #[allow(clippy::too_many_arguments)]
    pub fn train_batches<'env>(
        &self,
        env: &'env Env,
        dataset: u32,
        order: Uint32Array,
        batch_size: u32,
        first_batch: u32,
        num_batches: u32,
        on_batch: Option<Function<'env, BatchProgress, ()>>,
    ) -> Result<Object<'env>> {
        let what = || format!("a copy of the batch order of {} rows", order.len());
        let order = mem::collected(order.len(), order.iter().map(|&i| i as usize), what).map_err(from_core)?;
        let progress: Option<ThreadsafeFunction<BatchProgress, (), BatchProgress, Status, false, true>> = match on_batch {
            Some(f) => Some(f.build_threadsafe_function().weak::<true>().callee_handled::<false>().build()?),
            None => None,
        };
        let ds = self.dataset(dataset)?;
        self.shared.stop.store(false, Ordering::SeqCst);
        self.spawn(env, move |shared| {
            let on_batch = |k: usize, s: lstm_core::Stats| {
                if let Some(p) = &progress {
                    p.call(BatchProgress { batch: k as u32, loss: s.loss, accuracy: s.accuracy }, ThreadsafeFunctionCallMode::NonBlocking);
                }
            };
            let (x, y) = (ds.x.view(), ds.y.view());
            let stats = lock(shared)
                .train_batches(&x, &y, &order, batch_size as usize, first_batch as usize, num_batches as usize, &shared.stop, on_batch)
                .map_err(from_core)?;
            Ok(Float64Array::new(stats.iter().flat_map(|s| [s.loss, s.accuracy]).collect()))
        })
    }

    /// Asks a running `trainBatches` to stop after its current batch.
    #[napi]
    pub fn request_stop(&self) {
        self.shared.stop.store(true, Ordering::SeqCst);
    }

    /// Mean loss and accuracy over a dataset added with `addDataset`.
    #[napi(ts_return_type = "Promise<EvalResult>")]
    pub fn evaluate_dataset<'env>(&self, env: &'env Env, dataset: u32, batch_size: u32) -> Result<Object<'env>> {
        let ds = self.dataset(dataset)?;
        self.spawn(env, move |shared| {
            let s = lock(shared).evaluate_checked(&ds.x.view(), &ds.y.view(), batch_size as usize).map_err(from_core)?;
            Ok(EvalResult { loss: s.loss, accuracy: s.accuracy })
        })
    }

    /// Inference on the model's compute pool, alongside the model's other predictions (not after its exclusive
    /// jobs: a prediction only reads the weights).
    #[napi(ts_return_type = "Promise<TensorOut>")]
    pub fn predict<'env>(&self, env: &'env Env, x: Either<Int32Array, Float32Array>, x_shape: Vec<u32>, batch_size: u32) -> Result<Object<'env>> {
        let x = OwnedData::from_js(x, x_shape)?;
        let (deferred, promise) = env.create_deferred::<TensorOut, Box<dyn FnOnce(Env) -> Result<TensorOut>>>()?;
        let prediction = Prediction { in_flight: InFlight::new(&self.shared), x, batch_size: batch_size as usize, deferred };
        // A prediction runs on a thread of the compute pool itself, so that the process has no thread per
        // prediction running at once; a pool thread must not block, so one that would wait (a job holds the model
        // for writing, or the model is not built yet) goes to a job thread instead.
        match self.shared.model.try_read() {
            Ok(m) => m.spawn(move || prediction.run_on_pool()),
            Err(_) => prediction.run_on_job_thread(),
        }
        Ok(promise)
    }

    /// Inference on the calling thread, for small inputs.
    #[napi(catch_unwind)]
    pub fn predict_sync(&self, x: Either<Int32Array, Float32Array>, x_shape: Vec<u32>, batch_size: u32) -> Result<TensorOut> {
        let x = OwnedData::from_js(x, x_shape)?;
        let (data, shape) = {
            let m = self.try_read()?;
            if m.is_built() {
                predict_read(&self.shared, &m, &x, batch_size as usize)?
            } else {
                drop(m);
                self.try_model()?.predict(&x.view(), batch_size as usize).map_err(from_core)?
            }
        };
        Ok(TensorOut { data: Float32Array::new(data), shape: to_u32s(&shape) })
    }

    /// Stateful inference on the calling thread: runs x from the LSTM states the last call left (see resetStates).
    #[napi(catch_unwind)]
    pub fn predict_step(&self, x: Either<Int32Array, Float32Array>, x_shape: Vec<u32>) -> Result<TensorOut> {
        let x = OwnedData::from_js(x, x_shape)?;
        let (data, shape) = self.try_model()?.predict_step(&x.view()).map_err(from_core)?;
        Ok(TensorOut { data: Float32Array::new(data), shape: to_u32s(&shape) })
    }

    /// The optimizer's learning rate.
    #[napi(catch_unwind)]
    pub fn learning_rate(&self) -> Result<f64> {
        Ok(self.try_read()?.learning_rate().map_err(from_core)? as f64)
    }

    /// Changes the learning rate, keeping the optimizer state.
    #[napi(catch_unwind)]
    pub fn set_learning_rate(&self, lr: f64) -> Result<()> {
        self.try_model()?.set_learning_rate(lr).map_err(from_core)
    }

    /// Forgets the states kept by predictStep.
    #[napi(catch_unwind)]
    pub fn reset_states(&self) -> Result<()> {
        self.try_model()?.reset_states();
        Ok(())
    }

    /// Every weight, by PyTorch name, copied out.
    #[napi(catch_unwind)]
    pub fn get_weights(&self) -> Result<Vec<NamedTensor>> {
        let m = self.try_read()?;
        Ok(m.entries()
            .iter()
            .map(|e| NamedTensor { name: e.name.clone(), data: Float32Array::new(m.params()[e.range.clone()].to_vec()), shape: to_u32s(&e.shape) })
            .collect())
    }

    /// Replaces the named weights; checks every one before changing any.
    #[napi(catch_unwind)]
    pub fn set_weights(&self, weights: Vec<NamedTensor>) -> Result<()> {
        let staged = weights
            .into_iter()
            .map(|w| Ok((w.name, w.shape.iter().map(|&d| d as usize).collect(), mem::copied(&w.data, || format!("a copy of weight {:?}", w.shape))?)))
            .collect::<lstm_core::Result<Vec<(String, Vec<usize>, Vec<f32>)>>>()
            .map_err(from_core)?;
        self.try_model()?.set_weights(&staged).map_err(from_core)
    }

    /// Writes the model atomically (temporary file + rename) on the worker thread.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn save<'env>(&self, env: &'env Env, path: String, include_optimizer: bool, user_metadata: Option<String>) -> Result<Object<'env>> {
        self.spawn(env, move |shared| {
            shared.model.read().unwrap_or_else(|p| p.into_inner()).save(&PathBuf::from(path), include_optimizer, user_metadata.as_deref()).map_err(from_core)
        })
    }

    /// Loads weights saved from a model of the same architecture.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn load_weights<'env>(&self, env: &'env Env, path: String) -> Result<Object<'env>> {
        self.spawn(env, move |shared| lock(shared).load_weights(&PathBuf::from(path)).map_err(from_core))
    }
}
