//! The rustls client configuration of a [`ClusterAccess`]: only the cluster's CA is
//! trusted (never the system roots), the client certificate is offered when the user
//! has one, and ALPN offers HTTP/2 then HTTP/1.1.

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::{ClusterAccess, Credentials};

/// Why the TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsConfigError {
    /// A PEM block could not be read, or holds no certificate or key.
    #[error("{what}: {reason}")]
    Pem {
        /// Which PEM (CA, client certificate, client key).
        what: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// rustls refused the certificates or key.
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
}

impl From<TlsConfigError> for crate::client::ClientError {
    fn from(e: TlsConfigError) -> Self {
        crate::client::ClientError::Config(e.to_string())
    }
}

fn certificates(
    what: &'static str,
    pem: &[u8],
) -> Result<Vec<CertificateDer<'static>>, TlsConfigError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsConfigError::Pem {
            what,
            reason: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsConfigError::Pem {
            what,
            reason: "no certificate found".into(),
        });
    }
    Ok(certs)
}

/// The client configuration for `access`.
pub fn client_config(access: &ClusterAccess) -> Result<rustls::ClientConfig, TlsConfigError> {
    let mut roots = rustls::RootCertStore::empty();
    for ca in certificates("certificate authority", &access.ca_pem)? {
        roots.add(ca)?;
    }
    // The provider is named explicitly, so the process-wide default (which another
    // dependency may leave ambiguous) does not matter.
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots);
    let mut config = match &access.credentials {
        Credentials::ClientCertificate { cert_pem, key_pem } => {
            let chain = certificates("client certificate", cert_pem)?;
            let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| TlsConfigError::Pem {
                what: "client key",
                reason: e.to_string(),
            })?;
            builder.with_client_auth_cert(chain, key)?
        }
        Credentials::Token(_) | Credentials::None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}
