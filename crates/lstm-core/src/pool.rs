//! The compute threads models run on. By default every model of the process shares them: a model's `num_threads`
//! is a cap on how many threads its work may use, not a count of threads it starts, so a process holding a
//! thousand models has the threads of a few pools rather than a thousand. A model may instead ask for a pool of its
//! own ([`Threads::dedicated`]), for isolation from the other models' work.
//!
//! The cap is kept by sharing one pool per cap: the kernels split their work by `rayon::current_num_threads()`, and
//! a pool of exactly `cap` threads is what makes a model's work use at most `cap` of them. Caps at or above the core
//! count all share the pool sized to the cores, so the process has at most one pool per cap below the core count
//! (the default cap is the core count: one pool). Results do not depend on the pool: work is split by output element.

use crate::error::{LstmError, Result};
use rayon::{ThreadPool, ThreadPoolBuilder};
use std::collections::HashMap;
use std::ops::Deref;
use std::sync::{Arc, Mutex, OnceLock};

/// How many compute threads a model may use, and whether it shares them with the other models of the process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Threads {
    /// The most threads the model's work may use; 0 means one per core.
    pub cap: usize,
    /// A pool of the model's own, started with the model and ended with it, instead of the shared one.
    pub dedicated: bool,
}

impl Threads {
    /// Up to `cap` threads of the process's shared pools (0: one per core).
    pub fn shared(cap: usize) -> Threads {
        Threads { cap, dedicated: false }
    }

    /// A pool of `count` threads (0: one per core) for this model alone.
    pub fn dedicated(count: usize) -> Threads {
        Threads { cap: count, dedicated: true }
    }
}

/// The cores of this machine (1 when unknown).
pub fn cores() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

/// A model's compute pool.
pub enum Pool {
    Shared(Arc<ThreadPool>),
    Dedicated(ThreadPool),
}

impl Deref for Pool {
    type Target = ThreadPool;
    fn deref(&self) -> &ThreadPool {
        match self {
            Pool::Shared(p) => p,
            Pool::Dedicated(p) => p,
        }
    }
}

fn start(threads: usize, name: &'static str) -> Result<ThreadPool> {
    ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(move |i| format!("{name}-{i}"))
        .build()
        .map_err(|e| LstmError::InvalidConfig(format!("cannot start {threads} threads: {e}")))
}

/// The shared pools, by thread count; each lives as long as the process.
fn shared_pools() -> &'static Mutex<HashMap<usize, Arc<ThreadPool>>> {
    static POOLS: OnceLock<Mutex<HashMap<usize, Arc<ThreadPool>>>> = OnceLock::new();
    POOLS.get_or_init(|| Mutex::new(HashMap::new()))
}

impl Pool {
    /// The pool for `threads`, and the number of threads the model's work may use on it.
    pub fn for_threads(threads: Threads) -> Result<(Pool, usize)> {
        let cores = cores();
        if threads.dedicated {
            let n = if threads.cap == 0 { cores } else { threads.cap };
            return Ok((Pool::Dedicated(start(n, "lstm-native")?), n));
        }
        let n = if threads.cap == 0 { cores } else { threads.cap.min(cores) };
        let mut pools = shared_pools().lock().unwrap_or_else(|p| p.into_inner());
        let pool = match pools.get(&n) {
            Some(p) => p.clone(),
            None => {
                let p = Arc::new(start(n, "lstm-native-shared")?);
                pools.insert(n, p.clone());
                p
            }
        };
        Ok((Pool::Shared(pool), n))
    }

    pub fn is_dedicated(&self) -> bool {
        matches!(self, Pool::Dedicated(_))
    }
}
