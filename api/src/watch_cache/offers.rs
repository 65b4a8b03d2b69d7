//! [`Offers`]: objects a writer hands to its resource's watch cache, so that the cache
//! takes the writer's decoded object instead of decoding the bytes the store sends
//! back for the same write.
//!
//! A writer that does not need its object back (a pod binding answers with a Status)
//! offers it with the exact bytes it is about to store, before the write: the cache
//! may apply the store's event before the writer even hears that the write succeeded.
//! The cache takes an offer only when the stored bytes are the offered bytes; it sets
//! the resourceVersion from the store's event, as decoding would. A writer whose write
//! fails withdraws its offer; an offer never taken is replaced by the key's next one,
//! so there is at most one per key.
//!
//! ```
//! use bytes::Bytes;
//! use serde_json::json;
//! use skiff_api::watch_cache::Offers;
//! let offers = Offers::default();
//! let bytes = Bytes::from_static(b"{\"kind\":\"Pod\"}");
//! offers.put("/registry/pods/default/p", bytes.clone(), json!({"kind": "Pod"}));
//! assert_eq!(offers.take("/registry/pods/default/p", b"{}"), None);
//! assert_eq!(
//!     offers.take("/registry/pods/default/p", &bytes),
//!     Some(json!({"kind": "Pod"}))
//! );
//! assert!(offers.is_empty());
//! ```

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use bytes::Bytes;
use serde_json::Value;

/// An offered object and the bytes it is stored as.
type Offer = (Bytes, Value);

/// The offers of one resource's writers to its watch cache, by store key.
#[derive(Debug, Default)]
pub struct Offers {
    by_key: Mutex<HashMap<String, Offer>>,
}

impl Offers {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Offer>> {
        self.by_key.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Offers `object`, about to be stored under `key` as `bytes`; replaces an earlier
    /// offer for `key`.
    pub fn put(&self, key: &str, bytes: Bytes, object: Value) {
        self.lock().insert(key.to_owned(), (bytes, object));
    }

    /// Withdraws the offer for `key` if it is still the one made with `bytes` (the
    /// write failed).
    pub fn withdraw(&self, key: &str, bytes: &Bytes) {
        let mut offers = self.lock();
        if offers.get(key).is_some_and(|(b, _)| b == bytes) {
            offers.remove(key);
        }
    }

    /// The object offered for `key` if it was offered with `stored`, the bytes the
    /// store holds; an offer of other bytes (another writer's, or a failed write's)
    /// stays.
    pub fn take(&self, key: &str, stored: &[u8]) -> Option<Value> {
        let mut offers = self.lock();
        match offers.get(key) {
            Some((bytes, _)) if bytes.as_ref() == stored => offers.remove(key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// Whether no offer is pending.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_the_offer_with_the_stored_bytes_is_taken_or_withdrawn() {
        let offers = Offers::default();
        let (a, b) = (Bytes::from_static(b"a"), Bytes::from_static(b"b"));
        offers.put("k", a.clone(), json!("A"));
        // Another writer's offer replaces it; the first write's event finds none.
        offers.put("k", b.clone(), json!("B"));
        assert_eq!(offers.take("k", &a), None);
        // The first writer withdrawing does not remove the second's offer.
        offers.withdraw("k", &a);
        assert_eq!(offers.take("k", &b), Some(json!("B")));
        assert_eq!(offers.take("k", &b), None);
        offers.put("k", a.clone(), json!("A"));
        offers.withdraw("k", &a);
        assert!(offers.is_empty());
    }
}
