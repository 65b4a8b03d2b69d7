//! Store errors as API errors.

use skiff_core::status::ApiError;
use skiff_store::StoreError;

/// The API error a store error is answered with: 410 for compacted revisions, 504 for
/// revisions from the future, 413 for values over the store's limit, 503 while the store
/// is stopping, 500 for faults of the store itself.
pub fn api_error(err: StoreError) -> ApiError {
    match err {
        StoreError::Compacted { compact_revision } => ApiError::expired(format!(
            "The resourceVersion for the provided list is too old (compacted to {compact_revision})."
        )),
        StoreError::FutureRevision { current_revision } => ApiError::timeout(&format!(
            "Too large resource version, current resource version is {current_revision}"
        )),
        StoreError::RequestTooLarge => {
            ApiError::request_entity_too_large("the object is larger than the store accepts")
        }
        StoreError::Stopped => ApiError::service_unavailable("the store is shutting down"),
        other => ApiError::internal(&other.to_string()),
    }
}
