//! One shared multi-thread tokio runtime for in-process servers, and [`block_on`] for
//! synchronous tests and tools.
//!
//! Servers started in-process keep serving in the background on this runtime's workers while a
//! synchronous test blocks on its own calls, so one runtime serves every node of every test in
//! the binary; no test builds its own.

use std::future::Future;
use std::sync::OnceLock;

use tokio::runtime::Runtime;

/// The shared runtime (multi-thread, I/O and timers enabled), built on first use.
pub fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(4)
            .thread_name("tm-dev-support")
            .enable_all()
            .build()
            .expect("the shared tokio runtime can be built")
    })
}

/// Runs `future` to completion on the calling thread, within the shared runtime (so clients
/// made here can be used again in the next call). Call it from synchronous code only: inside
/// an async context use `.await`, or [`run`].
pub fn block_on<F: Future>(future: F) -> F::Output {
    runtime().block_on(future)
}

/// Runs `future` on the shared runtime's workers and waits for its output. Unlike
/// [`block_on`] it may be called from anywhere, also from inside an async context (a
/// `#[tokio::test]`, a drop during one); it blocks the calling thread while it waits.
pub fn run<F>(future: F) -> F::Output
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let (sender, receiver) = std::sync::mpsc::channel();
    runtime().spawn(async move {
        // The receiver only goes away if the waiting thread panicked: nothing to tell then.
        let _ = sender.send(future.await);
    });
    receiver
        .recv()
        .expect("the task on the shared runtime finished (it panicked otherwise)")
}
