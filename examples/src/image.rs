//! `skiff image`: the process runtime's local image store of a node's data
//! directory (`import NAME PATH`, `list`, `rm NAME`), so that `skiff node` and
//! `skiff up` with the same directory run the images. Nothing is pulled from
//! registries: import what `docker save` or an OCI layout gives, or a root file
//! system directory.
//!
//! The store of node NAME is `DATA-DIR/NAME/images` (the layout of `skiff node
//! --data-dir`; for `skiff up --data-dir D` pass `--data-dir D/nodes`). Without
//! `--node`, every node directory under the data directory is used, or the
//! default node's when there is none yet.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use skiff_node::fleet::{node_names, RuntimeKind};
use skiff_node::process::{import_image, ImportError, LocalImageStore};
use skiff_node::runtime::RuntimeError;

/// Flags of `skiff image`.
#[derive(Args, Debug)]
pub struct ImageArgs {
    /// The nodes' data directory, as given to `skiff node --data-dir`
    /// (`skiff up --data-dir D`: `D/nodes`).
    #[arg(long, default_value = ".skiff/node", global = true)]
    pub data_dir: PathBuf,
    /// Only this node's store (default: every node under the data directory).
    #[arg(long, global = true)]
    pub node: Option<String>,
    #[command(subcommand)]
    pub command: ImageCommand,
}

/// What to do with the image store.
#[derive(Subcommand, Debug)]
pub enum ImageCommand {
    /// Import PATH as NAME: a root file system directory, or a docker-archive
    /// (`docker save`) or OCI image layout tarball, gzip-compressed or not.
    Import {
        /// The image's name, as pods give it in `image:`.
        name: String,
        /// The directory or tarball.
        path: PathBuf,
    },
    /// List the images.
    #[command(alias = "ls")]
    List,
    /// Remove an image.
    Rm {
        /// The image's name.
        name: String,
    },
}

/// Why `skiff image` failed.
#[derive(Debug, thiserror::Error)]
pub enum ImageCmdError {
    /// The import failed.
    #[error("importing into node {node}: {source}")]
    Import {
        /// The node.
        node: String,
        /// The cause.
        source: ImportError,
    },
    /// The store failed.
    #[error("node {node}: {source}")]
    Store {
        /// The node.
        node: String,
        /// The cause.
        source: RuntimeError,
    },
    /// There is no node to act on.
    #[error("no node directory under {0}; pass --node")]
    NoNode(String),
}

/// The nodes whose stores to use.
fn nodes(data_dir: &Path, only: Option<&str>) -> Result<Vec<String>, ImageCmdError> {
    if let Some(node) = only {
        return Ok(vec![node.to_owned()]);
    }
    let mut found: Vec<String> = std::fs::read_dir(data_dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    found.sort();
    if found.is_empty() {
        found = node_names(None, 1, RuntimeKind::Process);
    }
    if found.is_empty() {
        return Err(ImageCmdError::NoNode(data_dir.display().to_string()));
    }
    Ok(found)
}

/// Runs `skiff image ...`.
pub async fn run(args: ImageArgs) -> Result<(), ImageCmdError> {
    let nodes = nodes(&args.data_dir, args.node.as_deref())?;
    let store = |node: &str| LocalImageStore::new(args.data_dir.join(node).join("images"));
    match args.command {
        ImageCommand::Import { name, path } => {
            for node in &nodes {
                let image = import_image(&store(node), &name, &path)
                    .await
                    .map_err(|source| ImageCmdError::Import {
                        node: node.clone(),
                        source,
                    })?;
                println!("imported {name} ({}) into node {node}", image.id);
            }
        }
        ImageCommand::List => {
            println!("{:<20} {:<40} {:<60} {:>12}", "NODE", "IMAGE", "ID", "SIZE");
            for node in &nodes {
                let mut images =
                    store(node)
                        .list()
                        .await
                        .map_err(|source| ImageCmdError::Store {
                            node: node.clone(),
                            source,
                        })?;
                images.sort_by(|a, b| a.repo_tags.cmp(&b.repo_tags));
                for image in images {
                    for tag in &image.repo_tags {
                        println!("{node:<20} {tag:<40} {:<60} {:>12}", image.id, image.size);
                    }
                }
            }
        }
        ImageCommand::Rm { name } => {
            for node in &nodes {
                store(node)
                    .remove(&name)
                    .await
                    .map_err(|source| ImageCmdError::Store {
                        node: node.clone(),
                        source,
                    })?;
                println!("removed {name} from node {node}");
            }
        }
    }
    Ok(())
}
