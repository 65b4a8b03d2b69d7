//! Helpers for integration tests that run real servers.

#![allow(dead_code)]

pub mod etcd;
