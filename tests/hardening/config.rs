//! Hardening: bad config files, reloads and secrets.

#[allow(unused_imports)]
use crate::common::*;
