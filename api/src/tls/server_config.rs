//! The rustls server configuration for the secure port.

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};

use super::{ClusterPki, TlsError};

/// A rustls `ServerConfig` that serves the PKI's serving certificate, offers HTTP/2 and
/// HTTP/1.1 by ALPN, and asks clients for a certificate signed by the cluster CA. A
/// client may also connect without one (to authenticate with a bearer token, or to reach
/// the endpoints open to anonymous users); a certificate that does not verify fails the
/// handshake.
pub fn server_config(pki: &ClusterPki) -> Result<ServerConfig, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let bad = |what: &str, e: rustls::pki_types::pem::Error| TlsError::BadPem {
        path: what.into(),
        reason: e.to_string(),
    };

    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(pki.ca_cert_pem.as_bytes()) {
        roots.add(cert.map_err(|e| bad("ca.crt", e))?)?;
    }
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .allow_unauthenticated()
        .build()?;

    let chain = CertificateDer::pem_slice_iter(pki.serving_cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad("apiserver.crt", e))?;
    let key = PrivateKeyDer::from_pem_slice(pki.serving_key_pem.as_bytes())
        .map_err(|e| bad("apiserver.key", e))?;

    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_from_a_fresh_pki() {
        let dir = tempfile::tempdir().unwrap();
        let pki = ClusterPki::load_or_create(dir.path(), &["localhost".to_string()]).unwrap();
        let config = server_config(&pki).unwrap();
        assert_eq!(config.alpn_protocols.len(), 2);
    }
}
