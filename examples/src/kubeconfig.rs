//! `skiff kubeconfig`: issues a kubeconfig with a client certificate signed by the
//! cluster CA, for a user or a node (user `system:node:NAME`, group `system:nodes`).

use std::path::PathBuf;

use clap::Args;
use skiff_api::kubeconfig::{client_kubeconfig, server_of};
use skiff_api::tls::{write_private_file, ClusterPki, TlsError};

/// Flags of `skiff kubeconfig`.
#[derive(Args, Debug)]
pub struct KubeconfigArgs {
    /// The API server's data directory (holding pki/ca.crt, pki/ca.key and
    /// admin.kubeconfig), as given to `skiff apiserver` or `skiff up`.
    #[arg(long, default_value = ".skiff")]
    pub data_dir: PathBuf,
    /// The user name (the certificate's common name), e.g. `jane` or
    /// `system:node:node-1`.
    #[arg(long)]
    pub user: String,
    /// The user's group (the certificate's organization), e.g. `system:nodes`.
    #[arg(long)]
    pub group: Option<String>,
    /// The API server's URL (default: the one in DIR/admin.kubeconfig).
    #[arg(long)]
    pub server: Option<String>,
    /// Where to write the kubeconfig (mode 0600); standard output when not given.
    #[arg(long, short = 'o')]
    pub output: Option<PathBuf>,
}

/// Why no kubeconfig was issued.
#[derive(Debug, thiserror::Error)]
pub enum KubeconfigCmdError {
    /// The CA could not be read or the certificate not be written.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// No --server, and none in the admin kubeconfig.
    #[error("no --server given and none found in {0}")]
    NoServer(String),
    /// An empty user name.
    #[error("--user must not be empty")]
    NoUser,
}

/// Issues the kubeconfig.
pub fn run(args: KubeconfigArgs) -> Result<(), KubeconfigCmdError> {
    if args.user.trim().is_empty() {
        return Err(KubeconfigCmdError::NoUser);
    }
    let admin = args.data_dir.join("admin.kubeconfig");
    let server = match args.server {
        Some(server) => server,
        None => std::fs::read_to_string(&admin)
            .ok()
            .and_then(|text| server_of(&text))
            .ok_or_else(|| KubeconfigCmdError::NoServer(admin.display().to_string()))?,
    };
    let credentials =
        ClusterPki::issue_client_certificate(&args.data_dir, &args.user, args.group.as_deref())?;
    let text = client_kubeconfig(&server, &args.user, &credentials);
    match args.output {
        Some(path) => {
            write_private_file(&path, &text)?;
            tracing::info!(user = %args.user, file = %path.display(), "kubeconfig written");
        }
        None => print!("{text}"),
    }
    Ok(())
}
