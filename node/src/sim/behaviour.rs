//! [`SimBehaviour`]: what a simulated container does once started, and how it is read
//! from a pod's annotations or a container's labels.
//!
//! ```
//! use std::time::Duration;
//! use skiff_node::sim::SimBehaviour;
//! assert_eq!("exit:3:2".parse(), Ok(SimBehaviour::Exit { code: 3, after: Duration::from_secs(2) }));
//! assert_eq!("run".parse(), Ok(SimBehaviour::Run));
//! assert!("explode".parse::<SimBehaviour>().is_err());
//! ```

use std::str::FromStr;
use std::time::Duration;

/// The annotation prefix on a pod that scripts its containers in the simulated
/// runtime: `sim.skiff.dev/container.<name>: exit:1:5` makes container `<name>` exit
/// with code 1 five seconds after each start.
pub const CONTAINER_ANNOTATION_PREFIX: &str = "sim.skiff.dev/container.";

/// The container label with the same meaning (used by tests that build
/// `ContainerConfig`s directly).
pub const BEHAVIOUR_LABEL: &str = "sim.skiff.dev/behaviour";

/// What a simulated container does once started.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SimBehaviour {
    /// Runs until stopped (the default).
    Run,
    /// Exits with `code`, `after` its start. Text form `exit:CODE[:SECONDS]`.
    Exit {
        /// The exit code.
        code: i32,
        /// How long it runs first.
        after: Duration,
    },
    /// Fails to start with `message` (exit code 128, reason `StartError`). Text form
    /// `fail:MESSAGE`.
    FailStart {
        /// Why it failed.
        message: String,
    },
}

/// A behaviour that could not be parsed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("simulated behaviour {0:?}: expected run, exit:CODE[:SECONDS] or fail:MESSAGE")]
pub struct BehaviourParseError(pub String);

impl FromStr for SimBehaviour {
    type Err = BehaviourParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || BehaviourParseError(s.to_owned());
        let s = s.trim();
        if s == "run" {
            return Ok(SimBehaviour::Run);
        }
        if let Some(message) = s.strip_prefix("fail:") {
            return Ok(SimBehaviour::FailStart {
                message: message.to_owned(),
            });
        }
        let rest = s.strip_prefix("exit:").ok_or_else(bad)?;
        let (code, after) = match rest.split_once(':') {
            Some((code, secs)) => {
                let secs: f64 = secs.parse().map_err(|_| bad())?;
                if !secs.is_finite() || secs < 0.0 {
                    return Err(bad());
                }
                (code, Duration::from_secs_f64(secs))
            }
            None => (rest, Duration::ZERO),
        };
        Ok(SimBehaviour::Exit {
            code: code.parse().map_err(|_| bad())?,
            after,
        })
    }
}

impl std::fmt::Display for SimBehaviour {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SimBehaviour::Run => write!(f, "run"),
            SimBehaviour::Exit { code, after } => write!(f, "exit:{code}:{}", after.as_secs_f64()),
            SimBehaviour::FailStart { message } => write!(f, "fail:{message}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        for text in ["run", "exit:0:0", "exit:-1:1.5", "fail:no such file"] {
            let b: SimBehaviour = text.parse().unwrap();
            assert_eq!(b.to_string().parse::<SimBehaviour>().unwrap(), b);
        }
        assert_eq!(
            "exit:7".parse(),
            Ok(SimBehaviour::Exit {
                code: 7,
                after: Duration::ZERO
            })
        );
        for bad in ["", "exit:", "exit:x", "exit:1:-2", "exit:1:nan", "stop"] {
            assert!(bad.parse::<SimBehaviour>().is_err(), "{bad}");
        }
    }
}
