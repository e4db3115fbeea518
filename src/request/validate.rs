//! The checks that make a body the provider's parser will accept, beyond the
//! syntax `peek` already verified: UTF-8 throughout and bounded nesting.

/// Deepest nesting of arrays and objects accepted (serde_json's own limit,
/// and Python's `json` goes no deeper by default without raising).
pub const MAX_DEPTH: usize = 128;

/// Why a body that parsed is still not sent on.
#[derive(Debug, PartialEq, Eq)]
pub enum Invalid {
    /// Bytes that are not UTF-8 (JSON text must be), at this offset.
    Utf8(usize),
    /// Arrays and objects nested deeper than [`MAX_DEPTH`], reached at this offset.
    TooDeep(usize),
}

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Invalid::Utf8(at) => write!(f, "invalid UTF-8 at byte {at}"),
            Invalid::TooDeep(at) => write!(f, "nesting deeper than {MAX_DEPTH} levels at byte {at}"),
        }
    }
}

/// Checks a body whose JSON syntax is already known to be valid. Outside
/// strings JSON is ASCII, so one UTF-8 check of the whole body covers every
/// string; the depth scan then skips string contents with `memchr`.
pub fn validate(body: &[u8]) -> Result<(), Invalid> {
    if let Err(e) = std::str::from_utf8(body) {
        return Err(Invalid::Utf8(e.valid_up_to()));
    }
    let mut depth = 0usize;
    let mut at = 0;
    while let Some(&byte) = body.get(at) {
        match byte {
            b'"' => at = string_end(body, at + 1),
            b'{' | b'[' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(Invalid::TooDeep(at));
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
        at += 1;
    }
    Ok(())
}

/// The offset of the quote that closes the string whose contents start at
/// `from` (the body's length if there is none).
fn string_end(body: &[u8], mut from: usize) -> usize {
    loop {
        let rest = body.get(from..).unwrap_or_default();
        match memchr::memchr2(b'"', b'\\', rest) {
            // An escape is two bytes (`\u` is followed by hex digits only).
            Some(k) if rest.get(k) == Some(&b'\\') => from += k + 2,
            Some(k) => return from + k,
            None => return body.len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(depth: usize) -> Vec<u8> {
        let mut body = br#"{"model":"m","x":"#.to_vec();
        body.extend(std::iter::repeat_n(b'[', depth - 1));
        body.extend(std::iter::repeat_n(b']', depth - 1));
        body.push(b'}');
        body
    }

    #[test]
    fn nesting_up_to_the_limit_passes_and_one_more_does_not() {
        assert_eq!(validate(&nested(MAX_DEPTH)), Ok(()));
        assert!(matches!(validate(&nested(MAX_DEPTH + 1)), Err(Invalid::TooDeep(_))));
    }

    #[test]
    fn brackets_and_escaped_quotes_inside_strings_are_not_structure() {
        let deep_in_a_string = format!(r#"{{"model":"m","x":"\"{}\\"}}"#, "[".repeat(500));
        assert_eq!(validate(deep_in_a_string.as_bytes()), Ok(()));
    }

    #[test]
    fn an_escaped_backslash_before_a_quote_ends_the_string() {
        // `"\\"` is a one-backslash string: the brackets after it are structure.
        let mut body = br#"{"model":"m","x":"\\","y":"#.to_vec();
        body.extend(std::iter::repeat_n(b'[', MAX_DEPTH));
        body.extend(std::iter::repeat_n(b']', MAX_DEPTH));
        body.push(b'}');
        let open = body.iter().position(|&b| b == b'[').unwrap();
        assert_eq!(validate(&body), Err(Invalid::TooDeep(open + MAX_DEPTH - 1)));
        // `"\\\""` (a backslash and a quote) hides nothing either.
        let quoted = format!(r#"{{"model":"m","x":"\\\"[[[","y":{}}}"#, "[".repeat(MAX_DEPTH));
        assert!(matches!(validate(quoted.as_bytes()), Err(Invalid::TooDeep(_))));
    }

    #[test]
    fn depth_is_counted_across_strings_and_after_the_last_one() {
        let mut body = b"{".to_vec();
        for _ in 0..MAX_DEPTH - 1 {
            body.extend_from_slice(br#"{"k":"#);
        }
        body.extend_from_slice(br#""v""#);
        body.extend(std::iter::repeat_n(b'}', MAX_DEPTH));
        assert_eq!(validate(&body), Ok(()));
        let (head, tail) = body.split_at(body.len() - MAX_DEPTH);
        let deeper = [head, b"[]", tail].concat();
        assert!(matches!(validate(&deeper), Err(Invalid::TooDeep(_))));
    }

    #[test]
    fn invalid_utf8_in_a_string_is_found() {
        assert_eq!(validate(b"{\"model\":\"m\xff\"}"), Err(Invalid::Utf8(11)));
        assert_eq!(validate("{\"model\":\"caf\u{e9}\"}".as_bytes()), Ok(()));
    }
}
