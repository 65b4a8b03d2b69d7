//! [`RuntimeError`]: what a runtime shim call can fail with.

/// The error of every [`super::RuntimeService`] and [`super::ImageService`] call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuntimeError {
    /// No sandbox with this id (never created, or removed).
    #[error("pod sandbox {0} not found")]
    SandboxNotFound(String),
    /// No container with this id (never created, or removed).
    #[error("container {0} not found")]
    ContainerNotFound(String),
    /// The sandbox is stopped: no container may be created or started in it.
    #[error("pod sandbox {0} is not ready")]
    SandboxNotReady(String),
    /// The call does not fit the object's state (starting a container twice,
    /// removing a running one).
    #[error("{0}")]
    InvalidState(String),
    /// The image is not in the store and cannot be pulled.
    #[error("image {image}: {message}")]
    ImageUnavailable {
        /// The image.
        image: String,
        /// Why.
        message: String,
    },
    /// The container could not be started (no such executable, bad working dir...).
    #[error("starting container {id}: {message}")]
    StartFailed {
        /// The container.
        id: String,
        /// Why.
        message: String,
    },
    /// The runtime does not implement the call (exec or port-forward on a runtime
    /// without them).
    #[error("{0}")]
    Unsupported(String),
    /// A bounded call (exec_sync) did not finish in time.
    #[error("{0}")]
    Timeout(String),
    /// The host refused an operation (I/O, signals).
    #[error("runtime: {0}")]
    Internal(String),
}
