//! The threads that run the binding's jobs that may wait (training, evaluation, saving, loading, and a prediction
//! that finds its model held by such a job) off the JS thread and off the libuv pool (which is shared with fs, dns
//! and zlib and has only 4 threads). Predictions that need not wait run on the compute pool itself. Each lane has a
//! fixed number of threads, whatever the core count and however many models the process holds, so a process has
//! the compute threads plus at most [`LANE_THREADS`] per lane: a job thread mostly waits while the compute pool
//! does the work.
//!
//! Two lanes, so that long jobs (a `fit` epoch, a save) never leave waiting predictions without a thread, and a
//! model's exclusive jobs run one at a time in the order they were submitted (a [`Strand`]).

use crate::errors::internal;
use napi::Result;
use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};

pub type Job = Box<dyn FnOnce() + Send>;

struct LaneState {
    queue: VecDeque<Job>,
    threads: usize,
    idle: usize,
}

/// Job threads started as jobs need them, up to `max`; beyond that, jobs wait their turn.
pub struct Lane {
    name: &'static str,
    max: usize,
    state: Mutex<LaneState>,
    ready: Condvar,
}

fn locked<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Lane {
    fn new(name: &'static str, max: usize) -> Lane {
        Lane { name, max, state: Mutex::new(LaneState { queue: VecDeque::new(), threads: 0, idle: 0 }), ready: Condvar::new() }
    }

    pub fn submit(&'static self, job: Job) -> Result<()> {
        let mut st = locked(&self.state);
        st.queue.push_back(job);
        if st.queue.len() > st.idle && st.threads < self.max {
            let started = std::thread::Builder::new().name(self.name.into()).spawn(move || self.run());
            match started {
                Ok(_) => st.threads += 1,
                // With no thread at all the job would never run; with some, it waits for one of them.
                Err(e) if st.threads == 0 => {
                    st.queue.pop_back();
                    return Err(internal(format!("cannot start a {} thread: {e}", self.name)));
                }
                Err(_) => {}
            }
        }
        self.ready.notify_one();
        Ok(())
    }

    fn run(&'static self) {
        loop {
            let job = {
                let mut st = locked(&self.state);
                loop {
                    if let Some(job) = st.queue.pop_front() {
                        break job;
                    }
                    st.idle += 1;
                    st = self.ready.wait(st).unwrap_or_else(|p| p.into_inner());
                    st.idle -= 1;
                }
            };
            job();
        }
    }
}

/// The most threads a lane starts. Beyond it, jobs wait their turn: more would not make the compute pool, which
/// does the work, any larger.
pub const LANE_THREADS: usize = 2;

/// Training, evaluation, saving and loading: jobs that may hold a model for seconds.
pub fn long_jobs() -> &'static Lane {
    static LANE: OnceLock<Lane> = OnceLock::new();
    LANE.get_or_init(|| Lane::new("lstm-native-job", LANE_THREADS))
}

/// Predictions that have to wait for their model (a long job holds it, or it is not built yet).
pub fn predictions() -> &'static Lane {
    static LANE: OnceLock<Lane> = OnceLock::new();
    LANE.get_or_init(|| Lane::new("lstm-native-predict", LANE_THREADS))
}

/// One model's exclusive jobs, run one at a time in submission order on the long-jobs lane.
pub struct Strand {
    /// The jobs waiting, and whether one of the lane's threads is draining them.
    inner: Arc<Mutex<(VecDeque<Job>, bool)>>,
}

impl Strand {
    pub fn new() -> Self {
        Strand { inner: Arc::new(Mutex::new((VecDeque::new(), false))) }
    }

    pub fn submit(&self, job: Job) -> Result<()> {
        let mut g = locked(&self.inner);
        g.0.push_back(job);
        if g.1 {
            return Ok(());
        }
        g.1 = true;
        drop(g);
        let inner = self.inner.clone();
        let drain = Box::new(move || loop {
            let job = {
                let mut g = locked(&inner);
                match g.0.pop_front() {
                    Some(job) => job,
                    None => {
                        g.1 = false;
                        return;
                    }
                }
            };
            job();
        });
        long_jobs().submit(drain).inspect_err(|_| {
            let mut g = locked(&self.inner);
            g.0.clear();
            g.1 = false;
        })
    }
}
