//! The core's errors: what went wrong for the caller (bad input, not found,
//! conflict, limits) apart from what went wrong in the platform.

/// A port's failure, sorted so the services can decide what to do with it.
#[derive(Debug, thiserror::Error)]
pub enum PortError {
    #[error("not found")]
    NotFound,
    /// A conditional write lost (another writer got there first).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The backend asked us to slow down; retry later.
    #[error("throttled")]
    Throttled(#[source] BoxError),
    /// The backend could not be reached or failed; retry later.
    #[error("unavailable")]
    Unavailable(#[source] BoxError),
    /// Anything else: a bug or corrupt data.
    #[error("internal")]
    Internal(#[source] BoxError),
}

pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

impl PortError {
    pub fn internal(e: impl Into<BoxError>) -> PortError {
        PortError::Internal(e.into())
    }
    pub fn unavailable(e: impl Into<BoxError>) -> PortError {
        PortError::Unavailable(e.into())
    }
}

/// What a service call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// The request is malformed or out of limits; `field` names the culprit.
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    /// The request or one of its parts is too large.
    #[error("{field}: {message}")]
    TooLarge { field: String, message: String },
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Forbidden(String),
    /// The platform is busy or a dependency is down: the client may retry.
    #[error("temporarily unavailable")]
    Unavailable(#[source] BoxError),
    /// A bug or a broken dependency: logged in full, opaque to the client.
    #[error("internal error")]
    Internal(#[source] BoxError),
}

impl CoreError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> CoreError {
        CoreError::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }
    pub fn too_large(field: impl Into<String>, message: impl Into<String>) -> CoreError {
        CoreError::TooLarge {
            field: field.into(),
            message: message.into(),
        }
    }
    pub fn internal(e: impl Into<BoxError>) -> CoreError {
        CoreError::Internal(e.into())
    }
}

impl From<PortError> for CoreError {
    fn from(e: PortError) -> CoreError {
        match e {
            PortError::NotFound => CoreError::NotFound("record"),
            PortError::Conflict(m) => CoreError::Conflict(m),
            PortError::Throttled(s) | PortError::Unavailable(s) => CoreError::Unavailable(s),
            PortError::Internal(s) => CoreError::Internal(s),
        }
    }
}
