//! The one way the binding reaches core state behind a mutex. A call detaches from the GIL,
//! locks, runs the core call, drops the guard, re-attaches and only then converts the result
//! or the error to Python. So no thread ever waits on a Rust lock while holding the GIL (which
//! would stall every other thread, including the lock's holder), and no Python code (an
//! exception's `__init__`, which may hand the GIL to another thread) runs under a Rust lock.

use std::sync::{Arc, Mutex, MutexGuard};

use pyo3::prelude::*;

use crate::errors::to_py;

/// Core state shared behind a mutex, reachable only through [`Locked::run`] and
/// [`Locked::call`]. The `Arc` lets the core share it too (a policy engine attached to a
/// cluster and schedulers); the core locks it only inside calls made through this type.
pub struct Locked<T> {
    mutex: Arc<Mutex<T>>,
}

impl<T: Send> Locked<T> {
    pub fn new(value: T) -> Self {
        Self::from_shared(Arc::new(Mutex::new(value)))
    }

    pub fn from_shared(mutex: Arc<Mutex<T>>) -> Self {
        Locked { mutex }
    }

    /// The shared state, to hand to a core object that keeps it (never locked here).
    pub fn shared(&self) -> &Arc<Mutex<T>> {
        &self.mutex
    }

    /// Runs `f` on the locked state with the GIL released; the guard is gone on return.
    pub fn run<R: Send>(&self, py: Python<'_>, f: impl FnOnce(&mut T) -> R + Send) -> R {
        py.detach(|| f(&mut guard(&self.mutex)))
    }

    /// [`Locked::run`] for a fallible core call: the error becomes a Python exception after
    /// the guard is dropped and the GIL is held again.
    pub fn call<R: Send>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&mut T) -> gpuplane_core::Result<R> + Send,
    ) -> PyResult<R> {
        self.run(py, f).map_err(to_py)
    }
}

/// Every core mutation validates before it changes anything, so a panic while the lock was
/// held cannot leave the state half-changed: a poisoned lock is taken over.
fn guard<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
