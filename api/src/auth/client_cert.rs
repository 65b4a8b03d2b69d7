//! Authentication by client certificate.

use super::{subject_of, with_authenticated_group, AuthOutcome, Authenticator, UserInfo};

/// The DER of the client certificate the TLS layer verified against the cluster CA,
/// put in each request's extensions by the server for connections that presented one.
#[derive(Clone, Debug)]
pub struct PeerCertificate(pub Vec<u8>);

/// Authenticates requests whose connection presented a verified client certificate:
/// the user is the subject's common name, the groups its organizations (as Kubernetes
/// does: CN=admin, O=system:masters is a cluster administrator).
#[derive(Clone, Debug, Default)]
pub struct ClientCertAuthenticator;

impl Authenticator for ClientCertAuthenticator {
    fn authenticate(&self, parts: &http::request::Parts) -> AuthOutcome {
        let Some(PeerCertificate(der)) = parts.extensions.get::<PeerCertificate>() else {
            return AuthOutcome::NoCredentials;
        };
        match subject_of(der) {
            Some(subject) => match subject.common_name {
                Some(name) if !name.is_empty() => AuthOutcome::Authenticated(UserInfo {
                    name,
                    uid: String::new(),
                    groups: with_authenticated_group(subject.organizations),
                }),
                _ => AuthOutcome::Rejected("client certificate has no common name".into()),
            },
            None => AuthOutcome::Rejected("malformed client certificate".into()),
        }
    }
}
