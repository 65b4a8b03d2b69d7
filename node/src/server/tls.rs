//! The rustls configuration of the node agent's server: a given serving certificate
//! or a self-signed one, HTTP/1.1 only (WebSocket upgrades), and, with a client CA,
//! client certificates verified against it (optional at the handshake so that a
//! bearer token can be used instead; the request is then refused without either).

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};

use super::{NodeServerConfig, ServerError};

fn pem_error(what: &str) -> impl Fn(rustls::pki_types::pem::Error) -> ServerError + '_ {
    move |e| ServerError::Tls(format!("{what}: {e}"))
}

/// The serving chain and key: the configured ones, or a self-signed certificate for
/// `config.hosts`.
fn serving_identity(
    config: &NodeServerConfig,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), ServerError> {
    let (cert_pem, key_pem) = match &config.serving {
        Some(pair) => pair.clone(),
        None => {
            let certified = rcgen::generate_simple_self_signed(config.hosts.clone())
                .map_err(|e| ServerError::Tls(format!("self-signed certificate: {e}")))?;
            (certified.cert.pem(), certified.signing_key.serialize_pem())
        }
    };
    let chain = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(pem_error("serving certificate"))?;
    let key =
        PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).map_err(pem_error("serving key"))?;
    Ok((chain, key))
}

/// The server's rustls configuration.
pub fn server_config(config: &NodeServerConfig) -> Result<ServerConfig, ServerError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| ServerError::Tls(e.to_string()))?;
    let builder = match &config.client_ca_pem {
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(ca.as_bytes()) {
                roots
                    .add(cert.map_err(pem_error("client CA"))?)
                    .map_err(|e| ServerError::Tls(format!("client CA: {e}")))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .allow_unauthenticated()
                .build()
                .map_err(|e| ServerError::Tls(format!("client CA: {e}")))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let (chain, key) = serving_identity(config)?;
    let mut tls = builder
        .with_single_cert(chain, key)
        .map_err(|e| ServerError::Tls(e.to_string()))?;
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tls)
}
