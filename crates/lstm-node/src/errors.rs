//! The one place where errors cross into JavaScript. A core error keeps its stable code (`LstmError::code`) as
//! the JS error's `code`; the TypeScript facade turns it into an `LstmError` of the same code.

use lstm_core::LstmError;
use napi::{Error, Result, Status};
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Prefix that marks a message as carrying a code, e.g. `[INDEX_OUT_OF_RANGE] index 1200 out of range ...`.
fn coded(code: &str, message: impl std::fmt::Display) -> Error {
    Error::new(Status::GenericFailure, format!("[{code}] {message}"))
}

pub fn from_core(e: LstmError) -> Error {
    coded(e.code(), e)
}

pub fn busy() -> Error {
    coded("MODEL_BUSY", "the model is busy: it is training (wait for fit to finish, or call this from a training callback) or predictions in flight are reading its weights (wait for them)")
}

pub fn internal(message: impl std::fmt::Display) -> Error {
    coded("INTERNAL", message)
}

/// Runs `f`, turning a panic into an `INTERNAL` error instead of unwinding into Node (which would abort).
pub fn run_caught<T>(f: impl FnOnce() -> Result<T>) -> Result<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(payload) => {
            let msg = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            Err(internal(format!("internal error (a bug in lstm-native, please report it): {msg}")))
        }
    }
}
