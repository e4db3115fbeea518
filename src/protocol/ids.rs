//! Tool-call ids and tool names made acceptable to each side, reversibly.
//!
//! Anthropic wants tool ids matching `^[a-zA-Z0-9_-]+$` and unique within a
//! conversation; Kimi answers `functions.Bash:0` and reuses it every turn.
//! So every id a chat upstream gives an Anthropic client is wrapped as
//! `toolu_tg<nonce>_<escaped id>`: the per-response nonce makes it unique,
//! the escaping makes it valid, and [`upstream_tool_id`] undoes both when the
//! client sends it back. OpenAI-style upstreams cap tool names at 64 of
//! `[a-zA-Z0-9_-]`; longer names (MCP's `mcp__server__tool`) are cut and
//! hashed, and the answer maps them back through `Context::tool_names`.

use std::borrow::Cow;

/// The prefix of ids the gateway wrapped.
const WRAPPED: &str = "toolu_tg";

/// The length of the per-response nonce in a wrapped id.
pub const NONCE_LEN: usize = 8;

/// The longest tool name OpenAI-style upstreams take.
pub const MAX_TOOL_NAME: usize = 64;

/// A fresh nonce of [`NONCE_LEN`] letters and digits.
pub fn nonce() -> String {
    (0..NONCE_LEN).map(|_| fastrand::alphanumeric()).collect()
}

fn is_id_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

/// Escapes to `[a-zA-Z0-9_-]`: `_` doubles, any other byte outside the set
/// becomes `_` and two hex digits, so the mapping can be undone.
fn escape(id: &str) -> String {
    let mut out = String::with_capacity(id.len() + 8);
    for byte in id.bytes() {
        match byte {
            b'_' => out.push_str("__"),
            b if b.is_ascii_alphanumeric() || b == b'-' => out.push(char::from(b)),
            b => {
                out.push('_');
                // Two lowercase hex digits; a nibble is always a base-16 digit.
                for nibble in [b >> 4, b & 15] {
                    out.extend(char::from_digit(u32::from(nibble), 16));
                }
            }
        }
    }
    out
}

fn unescape(escaped: &str) -> Option<String> {
    let mut bytes = Vec::with_capacity(escaped.len());
    let mut rest = escaped.as_bytes();
    while let Some((&first, tail)) = rest.split_first() {
        if first != b'_' {
            bytes.push(first);
            rest = tail;
            continue;
        }
        match tail {
            [b'_', more @ ..] => {
                bytes.push(b'_');
                rest = more;
            }
            [high, low, more @ ..] => {
                let digit = |d: u8| char::from(d).to_digit(16);
                let value = digit(*high)? * 16 + digit(*low)?;
                bytes.push(u8::try_from(value).ok()?);
                rest = more;
            }
            _ => return None,
        }
    }
    String::from_utf8(bytes).ok()
}

/// The id an Anthropic client sees for an upstream's call: unique per
/// response through `nonce`, valid, and reversible. A missing upstream id
/// gets one minted from the call's index.
pub fn client_tool_id(upstream_id: &str, nonce: &str, index: usize) -> String {
    let minted;
    let id = if upstream_id.is_empty() {
        minted = format!("call_{nonce}_{index}");
        minted.as_str()
    } else {
        upstream_id
    };
    format!("{WRAPPED}{nonce}_{}", escape(id))
}

/// The upstream's own id for an id a client sent back: wrapped ids are
/// unwrapped, any other passes as it is.
pub fn upstream_tool_id(client_id: &str) -> Cow<'_, str> {
    let unwrapped = client_id
        .strip_prefix(WRAPPED)
        .filter(|rest| rest.len() > NONCE_LEN && rest.is_char_boundary(NONCE_LEN))
        .and_then(|rest| rest[NONCE_LEN..].strip_prefix('_'))
        .and_then(unescape);
    match unwrapped {
        Some(id) => Cow::Owned(id),
        None => Cow::Borrowed(client_id),
    }
}

/// An id Anthropic accepts for any id a client sent: valid ids pass, others
/// are escaped the same way every time, so a `tool_use` and its
/// `tool_result` still match.
pub fn anthropic_tool_id(id: &str) -> Cow<'_, str> {
    if !id.is_empty() && id.chars().all(is_id_char) {
        Cow::Borrowed(id)
    } else {
        Cow::Owned(format!("tg_{}", escape(id)))
    }
}

/// A name OpenAI-style upstreams accept: valid names of up to 64 characters
/// pass; others keep a readable prefix and end in a hash of the whole name,
/// so two long names that share a prefix stay apart.
pub fn upstream_tool_name(name: &str) -> Cow<'_, str> {
    if !name.is_empty() && name.len() <= MAX_TOOL_NAME && name.chars().all(is_id_char) {
        return Cow::Borrowed(name);
    }
    let prefix: String = name
        .chars()
        .filter(|c| is_id_char(*c))
        .take(MAX_TOOL_NAME - 17)
        .collect();
    Cow::Owned(format!("{prefix}_{:016x}", fnv1a(name.as_bytes())))
}

/// FNV-1a, 64 bits: stable across builds and platforms, which a name sent
/// on one turn and matched on the next needs.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The client's name for a tool the upstream called by `upstream_name`.
pub fn client_tool_name<'a>(names: &'a [(String, String)], upstream_name: &'a str) -> &'a str {
    names
        .iter()
        .find(|(sent, _)| sent == upstream_name)
        .map_or(upstream_name, |(_, client)| client.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid(id: &str) -> bool {
        !id.is_empty() && id.chars().all(is_id_char)
    }

    #[test]
    fn kimi_ids_become_valid_unique_and_come_back() {
        let turn1 = client_tool_id("functions.Bash:0", "aaaaaaaa", 0);
        let turn2 = client_tool_id("functions.Bash:0", "bbbbbbbb", 0);
        assert!(valid(&turn1) && valid(&turn2), "{turn1} {turn2}");
        assert_ne!(turn1, turn2, "the same upstream id on two turns stays unique");
        assert_eq!(upstream_tool_id(&turn1), "functions.Bash:0");
        assert_eq!(upstream_tool_id(&turn2), "functions.Bash:0");
    }

    #[test]
    fn any_id_round_trips() {
        for id in ["call_abc", "a__b_", "_x_", "日本:1", "toolu_01ABC", "%%", "-"] {
            let wrapped = client_tool_id(id, "n0n0n0n0", 3);
            assert!(valid(&wrapped), "{wrapped}");
            assert_eq!(upstream_tool_id(&wrapped), id);
        }
        let minted = client_tool_id("", "n0n0n0n0", 3);
        assert_eq!(upstream_tool_id(&minted), "call_n0n0n0n0_3");
    }

    #[test]
    fn foreign_ids_pass_back_untouched() {
        for id in [
            "toolu_01XYZ",
            "call_1",
            "toolu_tg",
            "toolu_tgshort",
            "toolu_tgabcdefgh_a_q",
            "toolu_tgabcdefghX_a",
        ] {
            assert_eq!(upstream_tool_id(id), id);
        }
    }

    #[test]
    fn anthropic_ids_are_valid_and_deterministic() {
        assert_eq!(anthropic_tool_id("call_1"), "call_1");
        let odd = anthropic_tool_id("functions.Read:2");
        assert!(valid(&odd));
        assert_eq!(odd, anthropic_tool_id("functions.Read:2"));
        assert!(valid(&anthropic_tool_id("")));
    }

    #[test]
    fn long_names_are_cut_hashed_and_distinct() {
        let a = format!("mcp__server__{}", "a".repeat(80));
        let b = format!("mcp__server__{}b", "a".repeat(80));
        let (short_a, short_b) = (upstream_tool_name(&a), upstream_tool_name(&b));
        assert!(short_a.len() <= MAX_TOOL_NAME && valid(&short_a));
        assert_ne!(short_a, short_b);
        assert_eq!(short_a, upstream_tool_name(&a), "stable");
        assert_eq!(upstream_tool_name("Read"), "Read");
        let names = vec![(short_a.to_string(), a.clone())];
        assert_eq!(client_tool_name(&names, &short_a), a);
        assert_eq!(client_tool_name(&names, "Read"), "Read");
    }
}
