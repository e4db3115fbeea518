//! Hardening: odd provider answers, keys and cooldowns.

#[allow(unused_imports)]
use crate::common::*;
