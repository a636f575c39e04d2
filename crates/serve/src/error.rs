//! What can stop the server from starting.

/// Errors of starting or running `mnv2 serve`.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("bad setting: {0}")]
    Config(String),
    #[error("model {name:?}: {source}")]
    Model { name: String, source: mnv2::Error },
    #[error("two models are named {0:?}")]
    DuplicateName(String),
    #[error("cannot listen on {0}: {1}")]
    Bind(String, String),
    #[error("cannot start the async runtime: {0}")]
    Runtime(String),
}
