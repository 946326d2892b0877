//! A model's own worker thread: jobs run one at a time, in order, off the JS thread and off the libuv pool
//! (which is shared with fs, dns and zlib and has only 4 threads).

use crate::errors::internal;
use napi::Result;
use std::sync::mpsc::{channel, Sender};
use std::sync::Mutex;

pub type Job = Box<dyn FnOnce() + Send>;

pub struct Worker {
    /// Started on the first job; the thread ends when the model (and so this sender) is dropped.
    sender: Mutex<Option<Sender<Job>>>,
}

impl Worker {
    pub fn new() -> Self {
        Worker { sender: Mutex::new(None) }
    }

    pub fn submit(&self, job: Job) -> Result<()> {
        let mut guard = self.sender.lock().unwrap_or_else(|p| p.into_inner());
        if guard.is_none() {
            let (tx, rx) = channel::<Job>();
            std::thread::Builder::new()
                .name("lstm-native-worker".into())
                .spawn(move || {
                    for job in rx {
                        job();
                    }
                })
                .map_err(|e| internal(format!("cannot start the model's worker thread: {e}")))?;
            *guard = Some(tx);
        }
        guard.as_ref().expect("started above").send(job).map_err(|_| internal("the model's worker thread has stopped"))
    }
}
