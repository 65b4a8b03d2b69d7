//! The cluster's certificates: a CA generated on first start, the API server's serving
//! certificate and the admin client certificate it signs, kept as PEM files under
//! `DIR/pki/`, and the rustls server configuration built from them.
//!
//! # Organization
//! - [`ClusterPki`]: load the PEM files, or create the missing ones ([`ClusterPki::load_or_create`]);
//!   issue client certificates for users and nodes ([`ClusterPki::issue_client_certificate`]).
//! - [`server_config`]: a rustls `ServerConfig` that serves the certificate and asks for
//!   (but does not require) client certificates signed by the CA, so bearer tokens still work.

mod pki;
mod server_config;

pub use pki::{write_private_file, ClientCredentials, ClusterPki, PkiFiles};
pub use server_config::server_config;

/// Why the certificates could not be loaded, created or used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Generating or parsing a key or certificate failed.
    #[error("certificate generation: {0}")]
    Generate(#[from] rcgen::Error),
    /// A PEM file holds no usable certificate or key.
    #[error("{path}: {reason}")]
    BadPem {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// rustls refused the configuration.
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
    /// The client certificate verifier could not be built.
    #[error("client certificate verifier: {0}")]
    Verifier(#[from] rustls::server::VerifierBuilderError),
}
