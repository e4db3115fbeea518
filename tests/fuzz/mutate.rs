//! Mutations of a YAML config file, as an unlucky operator or a hostile
//! ConfigMap would make them: byte flips, lost and doubled lines, cut files,
//! odd numbers, wrong indentation, renamed keys, anchors, aliases, tags and
//! deep nesting.

use proptest::prelude::*;
use proptest::sample::{select, Index};

/// Numbers that must load or be refused, never break the loader.
#[rustfmt::skip]
const NUMBERS: &[&str] = &[
    "0", "-0", "-1", "-1e3", "1e-300", "0.0000001", "5e-324", ".nan", ".NaN", "NaN", ".inf", "-.inf", "+.inf",
    "inf", "1_000", "0x10", "0o17", "0b1", "007", "4294967296", "-4294967296", "65536", "1.5", "3e3", "1e9",
    "2147483648", "9007199254740993",
];

/// Numbers large enough to overflow a `Duration` (about 1.85e19 s and up) or
/// an integer. Loading them panicked before issue 11 item 5 bounded every
/// number at load; now each must be refused naming its key.
const HUGE: &[&str] = &[
    "1e20",
    "1e300",
    "1.8e308",
    "18446744073709551616",
    "99999999999999999999999",
    "9.3e18",
    "-1e300",
];

/// Whether the huge numbers are part of the mutations (see [`HUGE`]):
/// always, now that every number is bounded at load (issue 11 item 5);
/// `TOLLGATE_FUZZ_HUGE=0` leaves them out.
pub fn huge_numbers() -> bool {
    std::env::var("TOLLGATE_FUZZ_HUGE").map_or(true, |v| v != "0")
}

fn number() -> BoxedStrategy<String> {
    let pool: Vec<&'static str> = match huge_numbers() {
        true => NUMBERS.iter().chain(HUGE).copied().collect(),
        false => NUMBERS.to_vec(),
    };
    select(pool).prop_map(str::to_owned).boxed()
}

/// Key names from every section, LiteLLM's and tollgate's, and some nobody knows.
#[rustfmt::skip]
const KEYS: &[&str] = &[
    "model_list", "model_name", "litellm_params", "model", "api_base", "api_key", "headers", "extra_headers",
    "timeout", "stream_timeout", "rpm", "tpm", "weight", "order", "mock_response", "model_info",
    "input_cost_per_token", "general_settings", "master_key", "max_request_size_mb", "router_settings",
    "routing_strategy", "num_retries", "retry_policy", "fallbacks", "default_fallbacks", "max_fallbacks",
    "allowed_fails", "cooldown_time", "model_group_alias", "litellm_settings", "request_timeout",
    "environment_variables", "tollgate", "clients", "name", "key", "key_sha256", "models",
    "allow_unauthenticated", "telemetry", "otlp_endpoint", "otlp_protocol", "otlp_headers", "export_interval",
    "spend", "currency", "per_usd", "stream_idle_timeout", "<<", "", "MODEL_LIST", "model list", "ключ", "🔑",
];

/// Scalars put in place of a value.
#[rustfmt::skip]
const VALUES: &[&str] = &[
    "", "~", "null", "true", "false", "yes", "no", "[]", "{}", "[a, b]", "{a: 1}", "\"\"", "''", "|", ">-",
    "\"unterminated", "'unterminated", "os.environ/", "os.environ/UNSET_FUZZ_VAR", "os.environ/FUZZ_KEY",
    "file:", "file:missing.txt", "file:key.txt", "file:.", "openai/", "openai/*", "*", "nope/model",
    "openai/a*b*c", "http://", "https://[::1]:99999/v1", "http://exa mple.com", "usd", "EUR",
    "simple-shuffle", "latency-based-routing", "\"\\u0000\"", "\"\\ud800\"", "é", "🦀", "- a", ": x", "&", "*",
    "!", "%", "@", "`",
];

/// Lines inserted anywhere: YAML directives, document markers, odd syntax.
#[rustfmt::skip]
const LINES: &[&str] = &[
    "---", "...", "%YAML 1.2", "%TAG ! tag:x,2000:", "? complex", ": value", "- ", "-", "key: |", "key: >",
    "  - &x [*x]", "<<: {}", "<<: [*a, *b]", "!!binary aGk=", "a: !!binary aGk=", "x: *undefined", "\t", "#",
    "model_list:", "model_list: []", "tollgate:", "  clients:", "    - name: x", "      key: file:key.txt",
];

/// YAML tags put in front of a value.
#[rustfmt::skip]
const TAGS: &[&str] = &[
    "!!str", "!!int", "!!float", "!!bool", "!!null", "!!map", "!!seq", "!!binary", "!!timestamp", "!custom",
    "!<tag:yaml.org,2002:str>", "!", "!!merge",
];

/// One change to a file.
#[derive(Debug, Clone)]
pub enum Mutation {
    FlipByte(Index, u8),
    DeleteLine(Index),
    DuplicateLine(Index),
    SwapLines(Index, Index),
    Truncate(Index),
    /// Replace one number in the file.
    Number(Index, String),
    /// Add (positive) or remove (negative) leading spaces, or a tab (0).
    Indent(Index, i8),
    RenameKey(Index, &'static str),
    SetValue(Index, String),
    /// Anchor the value of one key line and alias it from another.
    AnchorAlias(Index, Index),
    Tag(Index, &'static str),
    /// Nest a value this deep, in flow (`[[[`) or block (`a:\n  a:`) style.
    Nest(Index, usize, bool),
    InsertLine(Index, &'static str),
    /// Billion laughs: `depth` levels of `width` aliases to the level below.
    AliasBomb(usize, usize),
}

pub fn mutation() -> impl Strategy<Value = Mutation> {
    let value = prop_oneof![
        select(VALUES).prop_map(str::to_owned),
        number(),
        "[ -~]{0,12}",
        any::<String>().prop_map(|s| s.chars().take(12).collect()),
    ];
    prop_oneof![
        1 => (any::<Index>(), 1u8..=255).prop_map(|(i, m)| Mutation::FlipByte(i, m)),
        1 => any::<Index>().prop_map(Mutation::DeleteLine),
        1 => any::<Index>().prop_map(Mutation::DuplicateLine),
        1 => (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Mutation::SwapLines(a, b)),
        1 => any::<Index>().prop_map(Mutation::Truncate),
        3 => (any::<Index>(), number()).prop_map(|(i, n)| Mutation::Number(i, n)),
        1 => (any::<Index>(), -4i8..=4).prop_map(|(i, by)| Mutation::Indent(i, by)),
        2 => (any::<Index>(), select(KEYS)).prop_map(|(i, k)| Mutation::RenameKey(i, k)),
        3 => (any::<Index>(), value).prop_map(|(i, v)| Mutation::SetValue(i, v)),
        2 => (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Mutation::AnchorAlias(a, b)),
        1 => (any::<Index>(), select(TAGS)).prop_map(|(i, t)| Mutation::Tag(i, t)),
        1 => (any::<Index>(), 1usize..300, any::<bool>()).prop_map(|(i, d, f)| Mutation::Nest(i, d, f)),
        1 => (any::<Index>(), select(LINES)).prop_map(|(i, l)| Mutation::InsertLine(i, l)),
        1 => (2usize..12, 2usize..10).prop_map(|(w, d)| Mutation::AliasBomb(w, d)),
    ]
}

/// Applies `mutations` in order to `text`.
pub fn apply(text: &str, mutations: &[Mutation]) -> Vec<u8> {
    let mut bytes = text.as_bytes().to_vec();
    for m in mutations {
        bytes = apply_one(bytes, m);
    }
    bytes
}

fn apply_one(mut bytes: Vec<u8>, m: &Mutation) -> Vec<u8> {
    let mut lines: Vec<Vec<u8>> = bytes.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect();
    let n = lines.len();
    match m {
        Mutation::FlipByte(at, mask) if !bytes.is_empty() => {
            let i = at.index(bytes.len());
            bytes[i] ^= mask;
            return bytes;
        }
        Mutation::Truncate(at) => {
            bytes.truncate(at.index(bytes.len() + 1));
            return bytes;
        }
        Mutation::Number(which, with) => return replace_number(&bytes, which, with),
        Mutation::AliasBomb(width, depth) => {
            bytes.extend_from_slice(alias_bomb(*width, *depth).as_bytes());
            return bytes;
        }
        Mutation::FlipByte(..) => return bytes,
        Mutation::DeleteLine(at) => {
            lines.remove(at.index(n));
        }
        Mutation::DuplicateLine(at) => {
            let i = at.index(n);
            lines.insert(i, lines[i].clone());
        }
        Mutation::SwapLines(a, b) => lines.swap(a.index(n), b.index(n)),
        Mutation::Indent(at, by) => {
            let line = &mut lines[at.index(n)];
            match *by {
                0 => line.insert(0, b'\t'),
                by if by > 0 => line.splice(0..0, std::iter::repeat_n(b' ', by as usize)).for_each(drop),
                by => {
                    let spaces = line.iter().take_while(|&&b| b == b' ').count();
                    line.drain(..spaces.min(by.unsigned_abs() as usize));
                }
            }
        }
        Mutation::RenameKey(at, to) => {
            if let Some((line, key)) = key_line(&lines, at) {
                lines[line].splice(key.0..key.1, to.bytes()).for_each(drop);
            }
        }
        Mutation::SetValue(at, to) => {
            if let Some((line, key)) = key_line(&lines, at) {
                let l = &mut lines[line];
                l.truncate(key.1 + 1);
                l.push(b' ');
                l.extend_from_slice(to.as_bytes());
            }
        }
        Mutation::AnchorAlias(a, b) => {
            if let (Some((la, ka)), Some((lb, kb))) = (key_line(&lines, a), key_line(&lines, b)) {
                lines[la].splice(ka.1 + 1..ka.1 + 1, *b" &fz").for_each(drop);
                let l = &mut lines[lb];
                l.truncate(kb.1 + 1);
                l.extend_from_slice(b" *fz");
            }
        }
        Mutation::Tag(at, tag) => {
            if let Some((line, key)) = key_line(&lines, at) {
                let tag = format!(" {tag}");
                lines[line].splice(key.1 + 1..key.1 + 1, tag.bytes()).for_each(drop);
            }
        }
        Mutation::Nest(at, depth, flow) => {
            if let Some((line, key)) = key_line(&lines, at) {
                let l = &mut lines[line];
                l.truncate(key.1 + 1);
                let indent = l.iter().take_while(|&&b| b == b' ' || b == b'-').count();
                l.extend_from_slice(nested(*depth, *flow, indent).as_bytes());
            }
        }
        Mutation::InsertLine(at, text) => lines.insert(at.index(n + 1), text.as_bytes().to_vec()),
    }
    lines.join(&b'\n')
}

/// A line that reads `key: ...` (after any indentation and `- `), chosen by
/// `at` among all such lines: its index and the key's byte range.
fn key_line(lines: &[Vec<u8>], at: &Index) -> Option<(usize, (usize, usize))> {
    let keyed: Vec<(usize, (usize, usize))> = lines
        .iter()
        .enumerate()
        .filter_map(|(i, line)| {
            let start = line.iter().position(|&b| b != b' ' && b != b'-')?;
            let colon = start + line[start..].iter().position(|&b| b == b':')?;
            let key_like = line[start..colon].iter().all(|&b| b != b'#' && b != b'"' && b != b'\'');
            key_like.then_some((i, (start, colon)))
        })
        .collect();
    (!keyed.is_empty()).then(|| keyed[at.index(keyed.len())])
}

/// Replaces the number chosen by `which` among the runs of digits (with
/// their dots) that stand alone in the file.
fn replace_number(bytes: &[u8], which: &Index, with: &str) -> Vec<u8> {
    let mut runs = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let starts = bytes[i].is_ascii_digit() && (i == 0 || !bytes[i - 1].is_ascii_alphanumeric());
        if !starts {
            i += 1;
            continue;
        }
        let end = i + bytes[i..]
            .iter()
            .take_while(|b| b.is_ascii_digit() || **b == b'.')
            .count();
        if bytes.get(end).is_none_or(|b| !b.is_ascii_alphanumeric()) {
            runs.push((i, end));
        }
        i = end;
    }
    if runs.is_empty() {
        return bytes.to_vec();
    }
    let (start, end) = runs[which.index(runs.len())];
    [&bytes[..start], with.as_bytes(), &bytes[end..]].concat()
}

/// A value nested `depth` levels deep, to follow `key:` on a line indented by `indent`.
fn nested(depth: usize, flow: bool, indent: usize) -> String {
    if flow {
        return format!(" {}1{}", "[".repeat(depth), "]".repeat(depth));
    }
    let mut out = String::new();
    for level in 1..=depth {
        out.push('\n');
        out.push_str(&" ".repeat(indent + 2 * level));
        out.push_str("a:");
    }
    out.push_str(" 1");
    out
}

/// Top-level keys `lol0..` where each level lists `width` aliases of the one below.
fn alias_bomb(width: usize, depth: usize) -> String {
    let mut out = String::from("\nlol0: &l0 [\"lol\", \"lol\"]\n");
    for level in 1..depth {
        let aliases = vec![format!("*l{}", level - 1); width].join(", ");
        out.push_str(&format!("lol{level}: &l{level} [{aliases}]\n"));
    }
    out
}
