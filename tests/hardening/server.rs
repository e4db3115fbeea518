//! Hardening: connections, bodies, limits and the process as a whole.

#[allow(unused_imports)]
use crate::common::*;
