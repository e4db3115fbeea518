//! `general_settings.master_key` and `tollgate.clients` to the `Keys` the
//! gateway checks: digests only, names and keys unique, allowlists real.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::build::Report;
use super::raw;
use super::resolve::Resolver;
use super::Deployment;
use crate::auth::{ClientKey, Keys};

pub(super) fn keys(
    general: &raw::GeneralSettings,
    clients: Vec<raw::ClientEntry>,
    groups: &HashMap<Arc<str>, Vec<Arc<Deployment>>>,
    resolver: &mut Resolver,
    report: &mut Report,
) -> Keys {
    let master = general.master_key.as_deref().and_then(|raw| {
        let key = resolver
            .resolve(raw)
            .map_err(|e| report.problem("general_settings.master_key", e))
            .ok()?;
        if key.is_empty() {
            report.problem("general_settings.master_key", "is empty");
            return None;
        }
        Some(Keys::digest(&key))
    });
    let mut names = HashSet::new();
    let mut digests: HashSet<[u8; 32]> = master.into_iter().collect();
    let mut out = Vec::new();
    for (i, client) in clients.into_iter().enumerate() {
        // The position, not the name: problems carry no file content.
        let at = format!("tollgate.clients[{i}]");
        let name = client.name.trim();
        if name.is_empty() {
            report.problem(&at, "name is empty");
        } else if !names.insert(name.to_string()) {
            report.problem(&at, "the name is already used by an earlier client");
        }
        let digest = match (&client.key, &client.key_sha256) {
            (Some(raw), None) => match resolver.resolve(raw) {
                Ok(key) if key.is_empty() => {
                    report.problem(format!("{at} key"), "is empty");
                    None
                }
                Ok(key) => Some(Keys::digest(&key)),
                Err(e) => {
                    report.problem(format!("{at} key"), e);
                    None
                }
            },
            (None, Some(hex)) => match Keys::parse_hex_digest(hex) {
                Some(d) => Some(d),
                None => {
                    report.problem(
                        format!("{at} key_sha256"),
                        "must be 64 hexadecimal digits (sha256 of the key)",
                    );
                    None
                }
            },
            _ => {
                report.problem(&at, "give exactly one of `key` or `key_sha256`");
                None
            }
        };
        if let Some(d) = digest {
            if !digests.insert(d) {
                report.problem(&at, "this key is already used by the master key or another client");
            }
        }
        let models = client.models.map(|models| {
            for (j, m) in models.iter().enumerate() {
                // An entry loaded disabled is still the file's model: naming it is no typo.
                let disabled = report.disabled.iter().any(|d| *d.model_name == *m.as_str());
                if !groups.contains_key(m.as_str()) && !disabled {
                    report.problem(format!("{at} models[{j}]"), "is not a model_name in model_list");
                }
            }
            models.into_iter().map(Arc::from).collect()
        });
        if let Some(digest) = digest {
            out.push(ClientKey {
                name: Arc::from(name),
                digest,
                models,
            });
        }
    }
    Keys::new(master, out)
}
