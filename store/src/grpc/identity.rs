//! Who the server says it is: the member and cluster IDs, name and URLs that etcd puts in
//! every response header and in `MemberList` and `Status` answers.

use crate::proto::etcdserverpb as pb;
use crate::types::Revision;

/// The raft term reported in headers and `Status`. A single-member store has no
/// elections, so the term never changes; etcd's first leader also runs in a low term.
pub const RAFT_TERM: u64 = 1;

/// The etcd server version `Maintenance.Status` reports. etcdctl and clients read it;
/// Skiff speaks the 3.4 API (plus the 3.5 additions it understands).
pub const ETCD_VERSION: &str = "3.4.23";

/// The identity of the one member this server stands for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerIdentity {
    /// Member name (etcd's `--name`, "default" unless set).
    pub name: String,
    /// Member ID; never 0.
    pub member_id: u64,
    /// Cluster ID; never 0.
    pub cluster_id: u64,
    /// URLs clients reach the member at, e.g. `http://127.0.0.1:2379`.
    pub client_urls: Vec<String>,
    /// URLs peers would reach it at (Skiff's single member has no peers; etcd reports
    /// `http://localhost:2380` by default, and so do we unless told otherwise).
    pub peer_urls: Vec<String>,
}

impl ServerIdentity {
    /// An identity for `name` serving on `client_urls`, with IDs derived from both (as
    /// etcd derives them from the member's URLs), so a restart on the same URLs keeps them.
    pub fn new(name: impl Into<String>, client_urls: Vec<String>) -> Self {
        let name = name.into();
        let peer_urls = vec!["http://localhost:2380".to_string()];
        let mut seed = name.clone().into_bytes();
        for url in &client_urls {
            seed.push(0);
            seed.extend_from_slice(url.as_bytes());
        }
        let member_id = non_zero(fnv1a(&seed));
        seed.extend_from_slice(b"\0cluster");
        let cluster_id = non_zero(fnv1a(&seed));
        ServerIdentity {
            name,
            member_id,
            cluster_id,
            client_urls,
            peer_urls,
        }
    }

    /// An identity with IDs chosen elsewhere (e.g. stored in the data file, so they
    /// survive restarts and URL changes, as etcd's do). An ID of 0 is replaced by 1.
    pub fn with_ids(
        name: impl Into<String>,
        client_urls: Vec<String>,
        member_id: u64,
        cluster_id: u64,
    ) -> Self {
        let mut identity = ServerIdentity::new(name, client_urls);
        identity.member_id = non_zero(member_id);
        identity.cluster_id = non_zero(cluster_id);
        identity
    }

    /// A response header at `revision`.
    pub fn header(&self, revision: Revision) -> pb::ResponseHeader {
        pb::ResponseHeader {
            cluster_id: self.cluster_id,
            member_id: self.member_id,
            revision,
            raft_term: RAFT_TERM,
        }
    }

    /// This member as `MemberList` reports it.
    pub fn member(&self) -> pb::Member {
        pb::Member {
            id: self.member_id,
            name: self.name.clone(),
            peer_ur_ls: self.peer_urls.clone(),
            client_ur_ls: self.client_urls.clone(),
            is_learner: false,
        }
    }
}

/// 64-bit FNV-1a: a stable hash (unlike std's, which may change between releases).
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        hash ^= u64::from(*b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

fn non_zero(id: u64) -> u64 {
    if id == 0 {
        1
    } else {
        id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_and_depend_on_the_urls() {
        let a = ServerIdentity::new("default", vec!["http://127.0.0.1:2379".into()]);
        let b = ServerIdentity::new("default", vec!["http://127.0.0.1:2379".into()]);
        let c = ServerIdentity::new("default", vec!["http://127.0.0.1:2380".into()]);
        assert_eq!(a, b);
        assert_ne!(a.member_id, c.member_id);
        assert_ne!(a.member_id, a.cluster_id);
        assert_ne!(a.member_id, 0);
    }

    #[test]
    fn given_ids_are_kept() {
        let id = ServerIdentity::with_ids("m", vec![], 0xabc, 0);
        assert_eq!((id.member_id, id.cluster_id), (0xabc, 1));
    }

    #[test]
    fn header_and_member_carry_the_identity() {
        let id = ServerIdentity::new("m1", vec!["http://127.0.0.1:1".into()]);
        let h = id.header(42);
        assert_eq!(
            (h.member_id, h.cluster_id, h.revision, h.raft_term),
            (id.member_id, id.cluster_id, 42, RAFT_TERM)
        );
        let m = id.member();
        assert_eq!(m.name, "m1");
        assert_eq!(m.client_ur_ls, vec!["http://127.0.0.1:1".to_string()]);
    }
}
