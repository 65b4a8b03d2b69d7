//! Store records that are taken and released with an object, in the same transaction
//! as its write: a Service's cluster IP and node ports. Because the records are
//! create-only keys checked in the transaction that stores the object, two API servers
//! on one store can never hand out the same value, and nothing lives only in memory.
//!
//! A [`Registry`](super::Registry) with [`Reservations`] adds, on create and update,
//! the compares and puts that [`Reservations::reserve`] returns to its transaction,
//! and on removal the deletes of [`Reservations::release`].
//!
//! ```
//! use skiff_api::registry::ReservationTxn;
//! let txn = ReservationTxn::default();
//! assert!(txn.is_empty());
//! ```

use serde_json::Value;
use skiff_core::status::ApiError;
use skiff_store::{Compare, KvStore, RequestOp};

/// What a write adds to its transaction for its reservations.
#[derive(Clone, Debug, Default)]
pub struct ReservationTxn {
    /// Conditions (typically: a key does not exist yet).
    pub compare: Vec<Compare>,
    /// Writes done with the object's (puts of new records, deletes of released ones).
    pub success: Vec<RequestOp>,
}

impl ReservationTxn {
    /// Nothing to add.
    pub fn is_empty(&self) -> bool {
        self.compare.is_empty() && self.success.is_empty()
    }
}

/// Records held by objects of one resource.
#[async_trait::async_trait]
pub trait Reservations: Send + Sync + std::fmt::Debug {
    /// Before `new` is stored over `old` (`None` on create): fills the values the
    /// server allocates into `new`, and returns what the write's transaction must add.
    /// A value `new` names that is taken or out of range is an error (422). When the
    /// transaction fails its compares, the caller calls again from the unreserved
    /// object.
    async fn reserve(
        &self,
        store: &dyn KvStore,
        old: Option<&Value>,
        new: &mut Value,
    ) -> Result<ReservationTxn, ApiError>;

    /// The deletes that release what the stored `obj` holds, for the transaction that
    /// removes it.
    fn release(&self, obj: &Value) -> Vec<RequestOp>;
}
