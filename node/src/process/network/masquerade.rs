//! Routing on the host for the pod network: IPv4 forwarding on, and traffic from
//! the node's pod CIDR that leaves the cluster CIDR masqueraded behind the host's
//! address (what flannel's `ipMasq` does), through `nft` when it is installed, else
//! `iptables`. Without either the rule is skipped and the reason returned: pods
//! still reach each other and the host, but not the outside world.
//!
//! The nftables rules live in a table of their own per bridge (`ip <bridge>`),
//! replaced as a whole, so setting up twice changes nothing and removing the table
//! removes them.
//!
//! ```no_run
//! use skiff_node::process::network::masquerade;
//! let pods = "10.244.1.0/24".parse().unwrap();
//! let cluster = "10.244.0.0/16".parse().unwrap();
//! if let Err(why) = masquerade::enable("skiff-1a2b3c4d", pods, cluster) {
//!     eprintln!("pods cannot reach the outside: {why}");
//! }
//! ```

use std::process::{Command, Stdio};

use ipnet::Ipv4Net;

/// Why forwarding or masquerading could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum MasqueradeError {
    /// Writing `/proc/sys/net/ipv4/ip_forward` failed.
    #[error("enabling IPv4 forwarding: {0}")]
    Forwarding(std::io::Error),
    /// Neither `nft` nor `iptables` is installed.
    #[error("neither nft nor iptables is installed, so pod traffic leaving the cluster is not masqueraded")]
    NoTool,
    /// The tool refused the rules.
    #[error("{tool}: {message}")]
    Rules {
        /// `nft` or `iptables`.
        tool: &'static str,
        /// What it said.
        message: String,
    },
}

/// Whether `tool` is on the agent's `PATH` (or in the usual sbin directories).
fn find(tool: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin"].map(Into::into))
        .map(|d| d.join(tool))
        .find(|p| p.is_file())
}

fn run(
    tool: &'static str,
    program: &std::path::Path,
    args: &[&str],
    stdin: Option<&str>,
) -> Result<(), MasqueradeError> {
    use std::io::Write;
    let mut cmd = Command::new(program);
    cmd.args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let fail = |message: String| MasqueradeError::Rules { tool, message };
    let mut child = cmd.spawn().map_err(|e| fail(e.to_string()))?;
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(text.as_bytes())
            .map_err(|e| fail(e.to_string()))?;
    }
    let out = child.wait_with_output().map_err(|e| fail(e.to_string()))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(fail(String::from_utf8_lossy(&out.stderr).trim().to_owned()))
    }
}

/// The nftables script that (re)defines table `ip <table>`.
pub fn nft_script(table: &str, pods: Ipv4Net, cluster: Ipv4Net) -> String {
    format!(
        "table ip {table} {{}}\n\
         delete table ip {table}\n\
         table ip {table} {{\n\
         \tchain forward {{\n\t\ttype filter hook forward priority filter; policy accept;\n\
         \t\tip saddr {pods} accept\n\t\tip daddr {pods} accept\n\t}}\n\
         \tchain postrouting {{\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n\
         \t\tip saddr {pods} ip daddr != {cluster} masquerade\n\t}}\n\
         }}\n"
    )
}

/// Turns IPv4 forwarding on.
pub fn enable_forwarding() -> Result<(), MasqueradeError> {
    let path = "/proc/sys/net/ipv4/ip_forward";
    if std::fs::read_to_string(path).is_ok_and(|v| v.trim() == "1") {
        return Ok(());
    }
    std::fs::write(path, "1").map_err(MasqueradeError::Forwarding)
}

/// Turns forwarding on and masquerades traffic from `pods` to outside `cluster`;
/// `table` names the rules (the bridge's name).
pub fn enable(table: &str, pods: Ipv4Net, cluster: Ipv4Net) -> Result<(), MasqueradeError> {
    enable_forwarding()?;
    if let Some(nft) = find("nft") {
        return run(
            "nft",
            &nft,
            &["-f", "-"],
            Some(&nft_script(table, pods, cluster)),
        );
    }
    let Some(iptables) = find("iptables") else {
        return Err(MasqueradeError::NoTool);
    };
    let (pods, cluster) = (pods.to_string(), cluster.to_string());
    let rules: [&[&str]; 3] = [
        &[
            "-t",
            "nat",
            "POSTROUTING",
            "-s",
            &pods,
            "!",
            "-d",
            &cluster,
            "-j",
            "MASQUERADE",
            "-m",
            "comment",
            "--comment",
            table,
        ],
        &[
            "-t",
            "filter",
            "FORWARD",
            "-s",
            &pods,
            "-j",
            "ACCEPT",
            "-m",
            "comment",
            "--comment",
            table,
        ],
        &[
            "-t",
            "filter",
            "FORWARD",
            "-d",
            &pods,
            "-j",
            "ACCEPT",
            "-m",
            "comment",
            "--comment",
            table,
        ],
    ];
    for rule in rules {
        // -C (check) first, so a rule is added once.
        let (table_args, rest) = rule.split_at(2);
        let with = |op: &'static str| -> Vec<&str> {
            table_args
                .iter()
                .copied()
                .chain([op])
                .chain(rest.iter().copied())
                .collect()
        };
        if run("iptables", &iptables, &with("-C"), None).is_err() {
            run("iptables", &iptables, &with("-A"), None)?;
        }
    }
    Ok(())
}

/// Removes the rules of `table` (nftables only; iptables rules stay until reboot).
pub fn disable(table: &str) {
    if let Some(nft) = find("nft") {
        let _ = run("nft", &nft, &["delete", "table", "ip", table], None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nft_script_masquerades_only_what_leaves_the_cluster() {
        let s = nft_script(
            "skiff-x",
            "10.244.1.0/24".parse().unwrap(),
            "10.244.0.0/16".parse().unwrap(),
        );
        assert!(s.contains("delete table ip skiff-x"), "{s}");
        assert!(
            s.contains("ip saddr 10.244.1.0/24 ip daddr != 10.244.0.0/16 masquerade"),
            "{s}"
        );
    }
}
