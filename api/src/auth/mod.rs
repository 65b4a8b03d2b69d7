//! Authentication: who is making a request.
//!
//! Every request passes through [`authenticate`] (an axum middleware). It asks an
//! [`Authenticator`] for the user behind the request's credentials, stores the
//! [`UserInfo`] in the request's extensions for later stages (authorization, audit,
//! managedFields), and answers `401 Unauthorized` with a `Status` when there are no
//! valid credentials. Only the health and version endpoints are open without
//! credentials, as in Kubernetes' default `system:public-info-viewer` role.
//!
//! # Organization
//! - [`Authenticator`]: the trait; [`ClientCertAuthenticator`] (the subject of a client
//!   certificate the TLS layer verified, see [`PeerCertificate`]), [`TokenFileAuthenticator`]
//!   (static bearer tokens from a CSV file like kube-apiserver's `--token-auth-file`),
//!   [`UnionAuthenticator`] (the first that recognises the request wins).
//! - [`AuthState`] and [`authenticate`]: the middleware.

mod client_cert;
mod middleware;
mod token_file;
mod x509_subject;

pub use client_cert::{ClientCertAuthenticator, PeerCertificate};
pub use middleware::{authenticate, is_open_path, AuthState};
pub use token_file::{TokenFileAuthenticator, TokenFileError};
pub use x509_subject::{subject_of, Subject};

/// The user a request was authenticated as.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UserInfo {
    /// The user name (a certificate's CN, a token's user).
    pub name: String,
    /// A unique ID, when the credential carries one.
    pub uid: String,
    /// The groups the user belongs to (a certificate's O values, a token's groups), plus
    /// `system:authenticated`.
    pub groups: Vec<String>,
}

/// What an [`Authenticator`] concluded about a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthOutcome {
    /// The credentials are valid and name this user.
    Authenticated(UserInfo),
    /// The request carries no credentials this authenticator understands.
    NoCredentials,
    /// The request carries credentials of this authenticator's kind, and they are invalid.
    Rejected(String),
}

/// Finds the user behind a request's credentials. Implementations look only at the
/// request head (headers and the extensions the transport set), never the body.
///
/// Kept behind a trait so that other schemes (OIDC, webhook, service account tokens) and
/// authorization can be added without touching the handlers.
pub trait Authenticator: Send + Sync + 'static {
    /// Authenticate the request whose head is `parts`.
    fn authenticate(&self, parts: &http::request::Parts) -> AuthOutcome;
}

/// Tries several authenticators in order: the first that authenticates or rejects the
/// request decides; if none recognises any credentials, there are none.
pub struct UnionAuthenticator {
    members: Vec<Box<dyn Authenticator>>,
}

impl UnionAuthenticator {
    /// A union of `members`, tried in order.
    pub fn new(members: Vec<Box<dyn Authenticator>>) -> UnionAuthenticator {
        UnionAuthenticator { members }
    }
}

impl Authenticator for UnionAuthenticator {
    fn authenticate(&self, parts: &http::request::Parts) -> AuthOutcome {
        for member in &self.members {
            match member.authenticate(parts) {
                AuthOutcome::NoCredentials => continue,
                decided => return decided,
            }
        }
        AuthOutcome::NoCredentials
    }
}

/// The group every authenticated user is in.
pub const AUTHENTICATED_GROUP: &str = "system:authenticated";

/// Add [`AUTHENTICATED_GROUP`] to `groups` unless present.
fn with_authenticated_group(mut groups: Vec<String>) -> Vec<String> {
    if !groups.iter().any(|g| g == AUTHENTICATED_GROUP) {
        groups.push(AUTHENTICATED_GROUP.to_string());
    }
    groups
}
