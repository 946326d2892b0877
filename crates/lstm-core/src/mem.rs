//! Fallible allocation for the buffers whose size the caller decides (activations and workspaces of a batch,
//! copies of datasets, tensors read from files). Rust's ordinary allocation aborts the process when memory runs
//! out; these return [`LstmError::OutOfMemory`] naming the size and the purpose instead, so the caller lives and
//! the model stays as it was.

use crate::error::{LstmError, Result};

/// The error for `len` elements of `T` that could not be had, for `what`.
pub fn out_of_memory<T>(len: usize, what: impl Into<String>) -> LstmError {
    LstmError::OutOfMemory { bytes: len as u128 * std::mem::size_of::<T>() as u128, what: what.into() }
}

/// Makes `v`'s capacity at least `len`, so that resizing it to `len` afterwards cannot allocate. A no-op when it
/// already is: the per-batch check costs one comparison per buffer.
pub fn room<T>(v: &mut Vec<T>, len: usize, what: impl FnOnce() -> String) -> Result<()> {
    if v.capacity() >= len {
        return Ok(());
    }
    // Beyond isize::MAX bytes no allocation can succeed; try_reserve_exact says so as CapacityOverflow.
    v.try_reserve_exact(len - v.len()).map_err(|_| out_of_memory::<T>(len, what()))
}

/// A vector of `len` copies of `value`, or `OutOfMemory`.
pub fn filled<T: Clone>(len: usize, value: T, what: impl FnOnce() -> String) -> Result<Vec<T>> {
    let mut v = Vec::new();
    room(&mut v, len, what)?;
    v.resize(len, value);
    Ok(v)
}

/// A copy of `src`, or `OutOfMemory`. A large copy's memory is faulted in at once, in huge pages where the system
/// offers them ([`prefault`]): the binding copies a caller's datasets on the JavaScript thread, and faulting 20 MB in
/// page by page as the copy wrote it held the event loop for 15 to 20 ms, where this takes 6 to 10.
pub fn copied<T: Clone>(src: &[T], what: impl FnOnce() -> String) -> Result<Vec<T>> {
    let mut v = Vec::new();
    room(&mut v, src.len(), what)?;
    prefault(&mut v);
    v.extend_from_slice(src);
    Ok(v)
}

/// Below this many bytes a buffer has too few pages for faulting them in at once to matter.
pub const PREFAULT_FROM: usize = 4 << 20;

/// Makes the pages of `v`'s allocation (its capacity) present before they are written, when it is at least
/// [`PREFAULT_FROM`] bytes, on Linux: `madvise(MADV_HUGEPAGE)`, so that transparent huge pages back it where the
/// system offers them (one fault per 2 MB instead of per 4 KB), then `MADV_POPULATE_WRITE`, which faults the whole
/// range in one call instead of one trap per page. Only the pages wholly inside the allocation are advised (huge
/// pages only fill 2 MB ranges wholly inside those), so no memory outside it is touched or added. Both are hints:
/// on an older kernel, with huge pages off, or on another system, the pages are faulted in as they are written.
pub fn prefault<T>(v: &mut Vec<T>) {
    let bytes = v.capacity().saturating_mul(std::mem::size_of::<T>());
    if bytes < PREFAULT_FROM {
        return;
    }
    #[cfg(target_os = "linux")]
    {
        // SAFETY: sysconf only reads a system constant.
        let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(0).max(1);
        let at = v.as_mut_ptr() as usize;
        let start = at.next_multiple_of(page);
        let end = (at + bytes) / page * page;
        if end > start {
            // SAFETY: the range lies within v's allocation, which v owns. MADV_HUGEPAGE changes how its pages are
            // backed and MADV_POPULATE_WRITE makes them present (zeroed, as a first write would find them, or as
            // they were); neither changes what the program reads. Failures leave the pages to be faulted in.
            unsafe {
                libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE);
                libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_POPULATE_WRITE);
            }
        }
    }
}

/// The `len` items of `items` in a new vector, or `OutOfMemory` (room is made before the first item is taken).
pub fn collected<T>(len: usize, items: impl IntoIterator<Item = T>, what: impl FnOnce() -> String) -> Result<Vec<T>> {
    let mut v = Vec::new();
    room(&mut v, len, what)?;
    v.extend(items);
    Ok(v)
}

/// The element count of `dims`, or `OutOfMemory` when it does not even fit in `usize` (no buffer of it could be
/// allocated).
pub fn count<T>(dims: &[usize], what: impl FnOnce() -> String) -> Result<usize> {
    dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).ok_or_else(|| {
        let bytes = dims.iter().fold(std::mem::size_of::<T>() as u128, |a, &d| a.saturating_mul(d as u128));
        LstmError::OutOfMemory { bytes, what: what() }
    })
}
