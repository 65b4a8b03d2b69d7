//! # skiff-benches — benchmark harnesses
//!
//! Each harness is a binary in `src/bin/` that runs a Skiff component beside the best
//! known reference (real etcd, published Kubernetes figures), prints its figures, and is
//! recorded with date and machine in `benches/BENCHMARKS.md`.
