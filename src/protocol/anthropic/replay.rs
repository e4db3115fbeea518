//! A Messages request passed through to Anthropic unchanged may still carry
//! thinking the gateway made on another provider's turn (its signature is
//! empty): Anthropic rejects such a block ("Invalid signature"), so it is
//! taken out. Only a body that shows such a block is parsed.

use serde_json::Value;

use super::GATEWAY_SIGNATURE_PREFIX;

/// What an unsigned thinking block looks like in compact and spaced JSON, or
/// a signature of the gateway's own.
const MARKERS: [&[u8]; 3] = [
    b"\"signature\":\"\"",
    b"\"signature\": \"\"",
    GATEWAY_SIGNATURE_PREFIX.as_bytes(),
];

/// The body without thinking blocks Anthropic would refuse, or `None` when
/// it has none (the common case: one search per marker, no parse). When a
/// block goes and the request asks for thinking, thinking is turned off:
/// Anthropic requires the last tool turn to open with signed thinking then.
pub fn without_unsigned_thinking(body: &[u8]) -> Option<Vec<u8>> {
    if !MARKERS.iter().any(|m| memchr::memmem::find(body, m).is_some()) {
        return None;
    }
    let mut request: Value = serde_json::from_slice(body).ok()?;
    let mut removed = false;
    let messages = request.get_mut("messages")?.as_array_mut()?;
    for message in messages.iter_mut().filter(|m| m["role"] == "assistant") {
        let Some(blocks) = message.get_mut("content").and_then(Value::as_array_mut) else {
            continue;
        };
        let before = blocks.len();
        blocks.retain(|block| block["type"] != "thinking" || signed(block));
        removed |= blocks.len() != before;
    }
    if !removed {
        return None;
    }
    if let Some(map) = request.as_object_mut() {
        map.remove("thinking");
    }
    serde_json::to_vec(&request).ok()
}

/// A block Anthropic signed: a non-empty signature the gateway did not make.
fn signed(block: &Value) -> bool {
    block["signature"]
        .as_str()
        .is_some_and(|s| !s.is_empty() && !s.starts_with(GATEWAY_SIGNATURE_PREFIX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_unsigned_thinking_goes_and_thinking_is_turned_off() {
        let body = json!({"model": "m", "max_tokens": 10, "thinking": {"type": "enabled", "budget_tokens": 1024},
            "messages": [{"role": "user", "content": "hi"},
                {"role": "assistant", "content": [
                    {"type": "thinking", "thinking": "made by the gateway", "signature": ""},
                    {"type": "thinking", "thinking": "Anthropic's", "signature": "EqQBCkgIARABGAIiQL"},
                    {"type": "text", "text": "ok"}]}]});
        let out: Value =
            serde_json::from_slice(&without_unsigned_thinking(body.to_string().as_bytes()).unwrap()).unwrap();
        let blocks = out["messages"][1]["content"].as_array().unwrap();
        assert_eq!(blocks.len(), 2);
        assert_eq!(blocks[0]["signature"], "EqQBCkgIARABGAIiQL");
        assert!(out.get("thinking").is_none());
    }

    #[test]
    fn a_body_without_unsigned_thinking_is_left_alone() {
        let signed = json!({"messages": [{"role": "assistant", "content": [
            {"type": "thinking", "thinking": "t", "signature": "abc"}]}]});
        assert_eq!(without_unsigned_thinking(signed.to_string().as_bytes()), None);
        // A user's text that looks like the marker changes nothing either.
        let text = r#"{"messages":[{"role":"user","content":"\"signature\":\"\""}]}"#;
        assert_eq!(without_unsigned_thinking(text.as_bytes()), None);
    }
}
