//! The lessor: live leases, their deadlines, and the keys attached to each.
//!
//! Grants, revocations and key attachments change only in the writer (they are part of a
//! write batch); keep-alives change only deadlines. A lease's remaining TTL is not
//! persisted: after a restart every lease gets its full TTL again, as etcd does after a
//! leader change.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::error::{Result, StoreError, MAX_LEASE_TTL};
use crate::types::LeaseId;

/// One live lease.
#[derive(Debug, Clone)]
pub(crate) struct Lease {
    /// TTL granted, in seconds.
    pub ttl: i64,
    /// When it expires unless renewed.
    pub deadline: Instant,
    /// Keys attached to it.
    pub keys: BTreeSet<Bytes>,
}

/// All live leases.
#[derive(Debug, Default)]
pub(crate) struct Lessor {
    leases: HashMap<LeaseId, Lease>,
    /// Leases handed to the writer for expiry and not yet revoked, so the expiry loop
    /// does not queue them twice.
    expiring: BTreeSet<LeaseId>,
    min_ttl: i64,
}

impl Lessor {
    /// A lessor that raises every TTL to at least `min_ttl` seconds.
    pub fn new(min_ttl: i64) -> Self {
        Lessor {
            min_ttl,
            ..Default::default()
        }
    }

    /// Check a grant and pick its ID and effective TTL (without granting).
    pub fn check_grant(&self, id: LeaseId, ttl: i64) -> Result<(LeaseId, i64)> {
        if ttl > MAX_LEASE_TTL {
            return Err(StoreError::LeaseTtlTooLarge);
        }
        let id = if id == 0 { self.fresh_id() } else { id };
        if self.leases.contains_key(&id) {
            return Err(StoreError::LeaseExists);
        }
        Ok((id, ttl.max(self.min_ttl)))
    }

    fn fresh_id(&self) -> LeaseId {
        loop {
            let id = rand::random::<i64>() & i64::MAX;
            if id != 0 && !self.leases.contains_key(&id) {
                return id;
            }
        }
    }

    /// Record a lease (grant, or restore at start) with its full TTL from now.
    pub fn insert(&mut self, id: LeaseId, ttl: i64) {
        let deadline = Instant::now() + Duration::from_secs(ttl.max(0) as u64);
        self.leases.insert(
            id,
            Lease {
                ttl,
                deadline,
                keys: BTreeSet::new(),
            },
        );
    }

    /// Remove a lease, returning its keys.
    pub fn remove(&mut self, id: LeaseId) -> Option<Lease> {
        self.expiring.remove(&id);
        self.leases.remove(&id)
    }

    /// Whether a lease is live.
    pub fn contains(&self, id: LeaseId) -> bool {
        self.leases.contains_key(&id)
    }

    /// The lease, if live.
    pub fn get(&self, id: LeaseId) -> Option<&Lease> {
        self.leases.get(&id)
    }

    /// Attach `key` to `id` (no-op for 0 or an unknown lease).
    pub fn attach(&mut self, id: LeaseId, key: &Bytes) {
        if let Some(l) = self.leases.get_mut(&id) {
            l.keys.insert(key.clone());
        }
    }

    /// Detach `key` from `id`.
    pub fn detach(&mut self, id: LeaseId, key: &[u8]) {
        if let Some(l) = self.leases.get_mut(&id) {
            l.keys.remove(key);
        }
    }

    /// Renew a lease to its full TTL; returns the TTL.
    pub fn renew(&mut self, id: LeaseId) -> Result<i64> {
        let l = self.leases.get_mut(&id).ok_or(StoreError::LeaseNotFound)?;
        l.deadline = Instant::now() + Duration::from_secs(l.ttl.max(0) as u64);
        Ok(l.ttl)
    }

    /// Seconds left before `id` expires (0 once past the deadline).
    pub fn remaining(&self, id: LeaseId) -> Result<(i64, i64)> {
        let l = self.leases.get(&id).ok_or(StoreError::LeaseNotFound)?;
        let left = l.deadline.saturating_duration_since(Instant::now());
        Ok((left.as_secs() as i64, l.ttl))
    }

    /// Every live lease ID, sorted.
    pub fn ids(&self) -> Vec<LeaseId> {
        let mut ids: Vec<_> = self.leases.keys().copied().collect();
        ids.sort_unstable();
        ids
    }

    /// Leases past their deadline that are not already queued for expiry; marks them
    /// queued.
    pub fn take_expired(&mut self, now: Instant) -> Vec<LeaseId> {
        let expired: Vec<LeaseId> = self
            .leases
            .iter()
            .filter(|(id, l)| l.deadline <= now && !self.expiring.contains(id))
            .map(|(id, _)| *id)
            .collect();
        self.expiring.extend(expired.iter().copied());
        expired
    }

    /// Unmark a lease queued for expiry (it was renewed or the revoke failed).
    pub fn unmark_expiring(&mut self, id: LeaseId) {
        self.expiring.remove(&id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grant_checks() {
        let mut l = Lessor::new(2);
        let (id, ttl) = l.check_grant(0, 1).unwrap();
        assert!(id > 0);
        assert_eq!(ttl, 2);
        l.insert(id, ttl);
        assert_eq!(l.check_grant(id, 10), Err(StoreError::LeaseExists));
        assert_eq!(
            l.check_grant(7, MAX_LEASE_TTL + 1),
            Err(StoreError::LeaseTtlTooLarge)
        );
        assert_eq!(l.renew(12345), Err(StoreError::LeaseNotFound));
    }

    #[test]
    fn expiry_is_reported_once() {
        let mut l = Lessor::new(0);
        l.insert(5, 0);
        let later = Instant::now() + Duration::from_millis(1);
        assert_eq!(l.take_expired(later), vec![5]);
        assert!(l.take_expired(later).is_empty());
        l.unmark_expiring(5);
        assert_eq!(l.take_expired(later), vec![5]);
    }

    #[test]
    fn keys_follow_attach_and_detach() {
        let mut l = Lessor::new(1);
        l.insert(9, 10);
        l.attach(9, &Bytes::from("a"));
        l.attach(9, &Bytes::from("b"));
        l.detach(9, b"a");
        let keys: Vec<_> = l.get(9).unwrap().keys.iter().cloned().collect();
        assert_eq!(keys, vec![Bytes::from("b")]);
    }
}
