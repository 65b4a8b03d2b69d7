//! # skiff-benches — benchmark harnesses
//!
//! Each harness is a binary in `src/bin/` that runs a Skiff component beside the best
//! known reference (real etcd, published Kubernetes figures), prints its figures, and is
//! recorded with date and machine in `benches/BENCHMARKS.md`.
//!
//! # Organization
//! - [`apiserver_setup`]: the API server under benchmark (durable store, in-process and
//!   HTTPS clients).
//! - [`apiserver_workload`]: creates, gets, lists and watch fan-out over any client.
//! - [`server_process`]: store servers (etcd, `skiff store`) as child processes.
//! - [`store_workload`]: the store benchmark's workloads over any `KvStore` client.
//! - [`latency`]: latency histograms and throughput.
//! - [`pod_startup`]: pod startup latency with node agents on an in-process API server.
//! - [`rollout`]: a large Deployment's rollout and rolling update through the
//!   ReplicaSet and Deployment controllers.

pub mod apiserver_setup;
pub mod apiserver_workload;
pub mod latency;
pub mod pod_startup;
pub mod rollout;
pub mod server_process;
pub mod store_workload;
