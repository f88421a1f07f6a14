//! CPU work taken off the lanes (`lanes`): a lane serves every connection it holds between two
//! polls, so milliseconds of rendering or compressing there would hold all of them that long.

use strongroom_core::CoreError;

/// Run `f` on the blocking threads; `what` names it in the error if the task panicked.
pub(crate) async fn run<T: Send + 'static>(
    what: &'static str,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, CoreError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| CoreError::Internal(format!("{what}: {e}")))
}
