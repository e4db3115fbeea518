//! Keeps configured secrets out of what a provider sends back: a provider
//! that echoes the key it was given ("Incorrect API key provided: sk-…")
//! must not hand it to every client.

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue};
use memchr::memmem;
use serde::de::IgnoredAny;
use serde_json::Value;

use crate::config::Deployment;

/// What a secret is replaced with: plain ASCII, valid inside a JSON string
/// and a header value.
pub const MARKER: &str = "[redacted]";

/// Shorter values are placeholders (`none`, `EMPTY`, `x`) that local
/// servers accept; replacing them would mangle ordinary words.
const MIN_LEN: usize = 6;

/// Parts of a configured header name that say its value is a credential.
const SECRET_NAME_PARTS: [&str; 8] = [
    "auth",
    "key",
    "token",
    "secret",
    "password",
    "credential",
    "signature",
    "cookie",
];

/// The byte strings to find: each secret as written and as a JSON string
/// would carry it (`"` and `\` escaped, and `/` as `\/`, which some
/// encoders write), longest first so a longer form is replaced whole.
#[derive(Debug, Default)]
pub struct Secrets(Vec<Vec<u8>>);

impl Secrets {
    /// The secrets one deployment sends (see `each_secret`).
    pub fn of(deployment: &Deployment) -> Secrets {
        let mut secrets = Secrets::default();
        secrets.add_deployment(deployment);
        secrets.finish()
    }

    /// The secrets of every deployment of the config: a provider may be
    /// handed another entry's key (two entries, one account).
    pub fn of_all<'a>(deployments: impl IntoIterator<Item = &'a Arc<Deployment>>) -> Secrets {
        let mut secrets = Secrets::default();
        for deployment in deployments {
            secrets.add_deployment(deployment);
        }
        secrets.finish()
    }

    fn add_deployment(&mut self, deployment: &Deployment) {
        each_secret(deployment, |secret| self.add(secret));
    }

    fn add(&mut self, secret: &[u8]) {
        self.0.push(secret.to_vec());
        if let Ok(text) = std::str::from_utf8(secret) {
            let quoted = serde_json::to_string(text).unwrap_or_default();
            let escaped = quoted.get(1..quoted.len().saturating_sub(1)).unwrap_or_default();
            self.0.push(escaped.as_bytes().to_vec());
            self.0.push(escaped.replace('/', "\\/").into_bytes());
        }
    }

    fn finish(mut self) -> Secrets {
        self.0.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        self.0.dedup();
        self
    }

    /// Replaces every secret in each header value.
    pub fn headers(&self, headers: &mut HeaderMap) {
        for value in headers.values_mut() {
            if let Some(clean) = replace_all(value.as_bytes(), &self.0) {
                *value = HeaderValue::from_bytes(&clean).unwrap_or(HeaderValue::from_static(MARKER));
            }
        }
    }

    /// Replaces every secret in a whole (buffered) body. A JSON body stays
    /// JSON: a secret sits inside a string and the marker is a valid string
    /// part; should a replacement still break the JSON (a secret written as
    /// a bare number), the body is rewritten from its parsed form.
    pub fn body(&self, body: Bytes) -> Bytes {
        let Some(clean) = replace_all(&body, &self.0) else {
            return body;
        };
        let is_json = |b: &[u8]| serde_json::from_slice::<IgnoredAny>(b).is_ok();
        if is_json(&body) && !is_json(&clean) {
            if let Ok(mut value) = serde_json::from_slice::<Value>(&body) {
                self.scrub(&mut value);
                if let Ok(rewritten) = serde_json::to_vec(&value) {
                    return Bytes::from(rewritten);
                }
            }
        }
        Bytes::from(clean)
    }

    fn scrub(&self, value: &mut Value) {
        let clean =
            |text: &str| replace_all(text.as_bytes(), &self.0).map(|b| String::from_utf8_lossy(&b).into_owned());
        match value {
            Value::String(text) => {
                if let Some(c) = clean(text) {
                    *text = c;
                }
            }
            Value::Number(n) => {
                if clean(&n.to_string()).is_some() {
                    *value = Value::String(MARKER.into());
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|v| self.scrub(v)),
            Value::Object(map) => {
                let entries = std::mem::take(map);
                for (key, mut v) in entries {
                    self.scrub(&mut v);
                    map.insert(clean(&key).unwrap_or(key), v);
                }
            }
            Value::Null | Value::Bool(_) => {}
        }
    }
}

/// Calls `f` with each secret a deployment sends: its key, the Entra ID
/// tokens it fetched (whole `Bearer …` value and token), the values of
/// credential-named configured headers (and the token of a `Bearer …`
/// value), and the user info of its `api_base`.
fn each_secret(deployment: &Deployment, mut f: impl FnMut(&[u8])) {
    let mut f = |secret: &[u8]| {
        let secret = secret.trim_ascii();
        if secret.len() >= MIN_LEN {
            f(secret);
        }
    };
    if let Some(key) = &deployment.api_key {
        f(key.expose().as_bytes());
    }
    if let Some(source) = &deployment.credential {
        // Fetched at run time, so read each time: the token changes on refresh.
        source.each_token(|header| {
            f(header);
            if let Some(token) = header.strip_prefix(b"Bearer ") {
                f(token);
            }
        });
    }
    for (name, value) in &deployment.headers {
        if SECRET_NAME_PARTS.iter().any(|part| name.as_str().contains(part)) {
            f(value.as_bytes());
            // Providers echo the token without its scheme.
            if let Some((_scheme, token)) = value.to_str().ok().and_then(|v| v.split_once(' ')) {
                f(token.as_bytes());
            }
        }
    }
    let userinfo = deployment
        .urls
        .first()
        .and_then(|url| url.authority()?.as_str().rsplit_once('@'));
    if let Some((userinfo, _host)) = userinfo {
        f(userinfo.as_bytes());
        if let Some((_user, password)) = userinfo.split_once(':') {
            f(password.as_bytes());
        }
    }
}

/// Replaces one deployment's secrets in response headers (which carry
/// them as written). Allocates only when one is found: this runs on every
/// answer.
pub fn headers_of(headers: &mut HeaderMap, deployment: &Deployment) {
    let mut found = false;
    each_secret(deployment, |secret| {
        found = found || headers.values().any(|v| memmem::find(v.as_bytes(), secret).is_some());
    });
    if found {
        Secrets::of(deployment).headers(headers);
    }
}

/// `text` with every needle replaced by the marker; `None` when none occurs.
fn replace_all(text: &[u8], needles: &[Vec<u8>]) -> Option<Vec<u8>> {
    let mut out: Option<Vec<u8>> = None;
    for needle in needles {
        let current = out.as_deref().unwrap_or(text);
        if memmem::find(current, needle).is_none() {
            continue;
        }
        let mut next = Vec::with_capacity(current.len());
        let mut rest = current;
        while let Some(at) = memmem::find(rest, needle) {
            let (before, after) = rest.split_at(at);
            next.extend_from_slice(before);
            next.extend_from_slice(MARKER.as_bytes());
            rest = after.get(needle.len()..).unwrap_or_default();
        }
        next.extend_from_slice(rest);
        out = Some(next);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secrets(list: &[&str]) -> Secrets {
        let mut s = Secrets::default();
        for secret in list.iter().filter(|s| s.len() >= MIN_LEN) {
            s.add(secret.as_bytes());
        }
        s.finish()
    }

    #[test]
    fn a_key_is_replaced_as_written_and_as_json_escapes_it() {
        let s = secrets(&["sk-live/abc\"def123"]);
        let body =
            br#"{"error":{"message":"Incorrect API key provided: sk-live\/abc\"def123 and sk-live/abc\"def123"}}"#;
        let out = s.body(Bytes::from_static(body));
        let text = String::from_utf8_lossy(&out);
        assert!(!text.contains("abc"), "{text}");
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(
            v["error"]["message"],
            "Incorrect API key provided: [redacted] and [redacted]"
        );
    }

    #[test]
    fn a_masked_key_and_short_placeholders_are_left_alone() {
        let s = secrets(&["sk-abc123456789wxyz", "none"]);
        let body = Bytes::from_static(b"key sk-abc1****wxyz: none");
        assert_eq!(s.body(body.clone()), body);
    }

    #[test]
    fn a_secret_written_as_a_bare_number_keeps_the_body_json() {
        let s = secrets(&["12345678901"]);
        let out = s.body(Bytes::from_static(br#"{"key":12345678901,"12345678901":"x"}"#));
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v, serde_json::json!({"key": "[redacted]", "[redacted]": "x"}));
    }

    #[test]
    fn header_values_are_redacted() {
        let s = secrets(&["sk-secret-value"]);
        let mut headers = HeaderMap::new();
        headers.insert("x-debug", HeaderValue::from_static("auth=Bearer sk-secret-value"));
        s.headers(&mut headers);
        assert_eq!(headers["x-debug"], "auth=Bearer [redacted]");
    }
}
