//! Who is calling: the master key, per-client keys, and model allowlists,
//! all checked in constant time against SHA-256 digests held in memory.

use std::collections::HashSet;
use std::sync::Arc;

use http::HeaderMap;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::GatewayError;

/// A client of `tollgate.clients`.
#[derive(Debug)]
pub struct ClientKey {
    /// The client's name (a telemetry label).
    pub name: Arc<str>,
    /// SHA-256 of the key; the key itself is not kept.
    pub digest: [u8; 32],
    /// The model names it may use; `None` means all.
    pub models: Option<HashSet<Arc<str>>>,
}

/// Every key the gateway accepts.
#[derive(Debug, Default)]
pub struct Keys {
    master: Option<[u8; 32]>,
    clients: Vec<ClientKey>,
}

/// Who a request is from, once authenticated.
#[derive(Debug, Clone, Copy)]
pub enum Caller<'a> {
    /// No key is configured (loopback or explicitly allowed).
    Anonymous,
    /// The master key: every model.
    Master,
    /// A configured client.
    Client(&'a ClientKey),
}

impl Caller<'_> {
    /// The label for logs and metrics.
    pub fn name(&self) -> &str {
        match self {
            Caller::Anonymous => "anonymous",
            Caller::Master => "master",
            Caller::Client(c) => &c.name,
        }
    }

    /// Whether this caller may use `model`.
    pub fn may_use(&self, model: &str) -> bool {
        match self {
            Caller::Anonymous | Caller::Master => true,
            Caller::Client(c) => c.models.as_ref().is_none_or(|m| m.contains(model)),
        }
    }
}

impl Keys {
    pub fn new(master: Option<[u8; 32]>, clients: Vec<ClientKey>) -> Self {
        Keys { master, clients }
    }

    pub fn digest(key: &str) -> [u8; 32] {
        Sha256::digest(key.as_bytes()).into()
    }

    /// Parses 64 hex digits (either case) into a digest.
    pub fn parse_hex_digest(hex: &str) -> Option<[u8; 32]> {
        let bytes = hex::decode(hex.trim()).ok()?;
        bytes.try_into().ok()
    }

    pub fn is_empty(&self) -> bool {
        self.master.is_none() && self.clients.is_empty()
    }

    /// Finds the caller from `Authorization: Bearer`, `x-api-key` or `api-key`.
    /// Every configured digest is compared, without early exit, so timing says
    /// nothing about which key was close.
    pub fn authenticate(&self, headers: &HeaderMap) -> Result<Caller<'_>, GatewayError> {
        if self.is_empty() {
            return Ok(Caller::Anonymous);
        }
        let presented = presented_key(headers).ok_or(GatewayError::MissingKey)?;
        let digest = Self::digest(presented);
        let mut found: Option<Caller<'_>> = None;
        if let Some(master) = &self.master {
            if bool::from(master.ct_eq(&digest)) {
                found = Some(Caller::Master);
            }
        }
        for client in &self.clients {
            if bool::from(client.digest.ct_eq(&digest)) {
                found = Some(Caller::Client(client));
            }
        }
        found.ok_or(GatewayError::InvalidKey)
    }
}

fn presented_key(headers: &HeaderMap) -> Option<&str> {
    if let Some(value) = headers.get(http::header::AUTHORIZATION) {
        let value = value.to_str().ok()?.trim();
        let token = match value.split_once(' ') {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest,
            _ if value.eq_ignore_ascii_case("bearer") => "",
            _ => value,
        };
        return Some(token.trim()).filter(|t| !t.is_empty());
    }
    for name in ["x-api-key", "api-key"] {
        if let Some(value) = headers.get(name) {
            return value.to_str().ok().map(str::trim).filter(|t| !t.is_empty());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> Keys {
        let models = Some(["cheap".into()].into_iter().collect());
        Keys::new(
            Some(Keys::digest("sk-master")),
            vec![ClientKey {
                name: "script".into(),
                digest: Keys::digest("sk-script"),
                models,
            }],
        )
    }

    fn headers(name: &'static str, value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(name, value.parse().unwrap());
        h
    }

    #[test]
    fn keys_are_found_in_any_accepted_header() {
        let k = keys();
        assert!(matches!(
            k.authenticate(&headers("authorization", "Bearer sk-master")),
            Ok(Caller::Master)
        ));
        assert!(matches!(
            k.authenticate(&headers("x-api-key", "sk-script")),
            Ok(Caller::Client(_))
        ));
        assert!(matches!(
            k.authenticate(&headers("authorization", "Bearer nope")),
            Err(GatewayError::InvalidKey)
        ));
        assert!(matches!(
            k.authenticate(&HeaderMap::new()),
            Err(GatewayError::MissingKey)
        ));
        assert!(matches!(
            k.authenticate(&headers("authorization", "Bearer ")),
            Err(GatewayError::MissingKey)
        ));
    }

    #[test]
    fn allowlists_limit_clients_only() {
        let k = keys();
        let client = k.authenticate(&headers("x-api-key", "sk-script")).unwrap();
        assert!(client.may_use("cheap") && !client.may_use("expensive"));
        assert!(Caller::Master.may_use("expensive"));
        assert_eq!(client.name(), "script");
    }

    #[test]
    fn no_keys_means_anonymous() {
        assert!(matches!(
            Keys::default().authenticate(&HeaderMap::new()),
            Ok(Caller::Anonymous)
        ));
    }

    #[test]
    fn hex_digests() {
        let hex = "9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08";
        assert_eq!(Keys::parse_hex_digest(hex), Some(Keys::digest("test")));
        assert_eq!(Keys::parse_hex_digest("abc"), None);
    }
}
