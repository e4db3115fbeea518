//! The hub's request as an Anthropic Messages body, built from an allowlist
//! because Anthropic refuses any field it does not know.

use serde_json::{json, Map, Value};

use crate::protocol::hub::{CacheControl, ImageSource, Message, Part, Reasoning, Request, Role, ToolChoice, ToolKind};
use crate::protocol::ids::anthropic_tool_id;

/// The prefix of any signature the gateway itself might mint: such thinking
/// is never replayed to Anthropic, which answers "Invalid signature" (R6).
pub const GATEWAY_SIGNATURE_PREFIX: &str = "tollgate:";

/// Anthropic takes at most this many `cache_control` breakpoints.
const MAX_BREAKPOINTS: usize = 4;

/// The smallest thinking budget Anthropic takes.
const MIN_BUDGET: u64 = 1024;

/// A Messages body for the request; `max_tokens` fills in for a client that
/// sent none (Anthropic requires it).
pub fn build_request(request: &Request, max_tokens: u64) -> Value {
    let max_tokens = request.max_tokens.unwrap_or(max_tokens).max(1);
    let mut body = Map::new();
    body.insert("model".into(), request.model.clone().into());
    body.insert("max_tokens".into(), max_tokens.into());
    let system: Vec<Value> = request
        .messages
        .iter()
        .filter(|m| m.role == Role::System)
        .flat_map(|m| text_blocks(&m.parts))
        .collect();
    if !system.is_empty() {
        body.insert("system".into(), system.into());
    }
    body.insert("messages".into(), messages(&request.messages).into());
    if !request.tools.is_empty() {
        let tools: Vec<Value> = request.tools.iter().map(tool).collect();
        body.insert("tools".into(), tools.into());
    }
    let parallel_off = request.parallel_tool_calls == Some(false) && !request.tools.is_empty();
    let choice = match &request.tool_choice {
        Some(ToolChoice::Auto) => Some(json!({"type": "auto"})),
        Some(ToolChoice::Required) => Some(json!({"type": "any"})),
        Some(ToolChoice::None) => Some(json!({"type": "none"})),
        Some(ToolChoice::Tool(name)) => Some(json!({"type": "tool", "name": name})),
        None if parallel_off => Some(json!({"type": "auto"})),
        None => None,
    };
    if let Some(mut choice) = choice {
        if let Some(choice) = choice.as_object_mut().filter(|_| parallel_off) {
            choice.insert("disable_parallel_tool_use".into(), true.into());
        }
        body.insert("tool_choice".into(), choice);
    }
    let stop: Vec<&String> = request.stop.iter().filter(|s| !s.trim().is_empty()).collect();
    if !stop.is_empty() {
        body.insert("stop_sequences".into(), json!(stop));
    }
    let thinking = thinking_budget(request, max_tokens);
    if let Some(budget) = thinking {
        body.insert("thinking".into(), json!({"type": "enabled", "budget_tokens": budget}));
    }
    // Anthropic refuses `temperature` with thinking on.
    if let Some(t) = request.temperature.filter(|_| thinking.is_none()) {
        body.insert("temperature".into(), t.into());
    }
    if let Some(p) = request.top_p {
        let p = if thinking.is_some() { p.max(0.95) } else { p };
        body.insert("top_p".into(), p.into());
    }
    if let Some(user) = &request.user {
        body.insert("metadata".into(), json!({"user_id": user}));
    }
    if let Some(schema) = &request.json_schema {
        body.insert(
            "output_config".into(),
            json!({"format": {"type": "json_schema", "schema": schema.schema}}),
        );
    }
    if request.stream {
        body.insert("stream".into(), true.into());
    }
    let mut body = Value::Object(body);
    limit_breakpoints(&mut body);
    body
}

/// The thinking budget to send, if thinking can be on: at least 1024 and
/// below `max_tokens`, and off when the last tool turn carries no signed
/// thinking, which Anthropic requires once thinking is on.
fn thinking_budget(request: &Request, max_tokens: u64) -> Option<u64> {
    let budget = request.reasoning.as_ref()?.budget_or_step()?.max(MIN_BUDGET);
    let budget = budget.min(max_tokens.checked_sub(1)?);
    if budget < MIN_BUDGET {
        return None;
    }
    let last_tool_turn = request
        .messages
        .iter()
        .rev()
        .find(|m| m.role == Role::Assistant && !m.tool_calls.is_empty());
    if let Some(turn) = last_tool_turn {
        if !turn.reasoning.iter().any(replayable) {
            return None;
        }
    }
    Some(budget)
}

/// Thinking Anthropic will take back: its own signed or redacted blocks.
fn replayable(reasoning: &Reasoning) -> bool {
    match reasoning {
        Reasoning::Text {
            signature: Some(sig), ..
        } => !sig.is_empty() && !sig.starts_with(GATEWAY_SIGNATURE_PREFIX),
        Reasoning::Text { signature: None, .. } => false,
        Reasoning::Redacted { data } => !data.is_empty(),
    }
}

fn cache_json(cache: &Option<CacheControl>) -> Option<Value> {
    cache.as_ref().map(|c| match &c.ttl {
        Some(ttl) => json!({"type": "ephemeral", "ttl": ttl}),
        None => json!({"type": "ephemeral"}),
    })
}

fn with_cache(mut block: Value, cache: &Option<CacheControl>) -> Value {
    if let (Some(control), Some(fields)) = (cache_json(cache), block.as_object_mut()) {
        fields.insert("cache_control".into(), control);
    }
    block
}

fn text_blocks(parts: &[Part]) -> Vec<Value> {
    parts.iter().filter_map(block).filter(|b| b["type"] == "text").collect()
}

/// A part as a content block; whitespace-only text has none (R24).
fn block(part: &Part) -> Option<Value> {
    match part {
        Part::Text { text, .. } if text.trim().is_empty() => None,
        Part::Text { text, cache } => Some(with_cache(json!({"type": "text", "text": text}), cache)),
        Part::Image { source, cache } => {
            let source = match source {
                ImageSource::Url(url) => json!({"type": "url", "url": url}),
                ImageSource::Base64 { media_type, data } => {
                    json!({"type": "base64", "media_type": media_type, "data": data})
                }
            };
            Some(with_cache(json!({"type": "image", "source": source}), cache))
        }
    }
}

fn tool(tool: &crate::protocol::hub::Tool) -> Value {
    let schema = match tool.kind {
        ToolKind::Custom => {
            json!({"type": "object", "properties": {"input": {"type": "string"}}, "required": ["input"]})
        }
        ToolKind::Function if tool.parameters.is_object() => tool.parameters.clone(),
        ToolKind::Function => json!({"type": "object", "properties": {}}),
    };
    let mut out = json!({"name": tool.name, "input_schema": schema});
    if let (Some(description), Some(fields)) = (&tool.description, out.as_object_mut()) {
        fields.insert("description".into(), description.clone().into());
    }
    with_cache(out, &tool.cache)
}

/// The turns as Anthropic orders them: system hoisted out, each run of tool
/// results one user turn right after its calls, roles alternating.
fn messages(messages: &[Message]) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::with_capacity(messages.len());
    let last_assistant = messages.iter().rposition(|m| m.role == Role::Assistant);
    for (i, message) in messages.iter().enumerate() {
        let (role, blocks) = match message.role {
            Role::System => continue,
            Role::User => ("user", message.parts.iter().filter_map(block).collect()),
            Role::Tool => ("user", vec![tool_result(message)]),
            Role::Assistant => ("assistant", assistant_blocks(message, Some(i) == last_assistant)),
        };
        if blocks.is_empty() {
            continue;
        }
        match out.last_mut() {
            Some(last) if last["role"] == role => {
                if let Some(Value::Array(existing)) = last.get_mut("content") {
                    existing.extend(blocks);
                }
            }
            _ => out.push(json!({"role": role, "content": blocks})),
        }
    }
    // Tool results open their user turn, whatever order they were given in.
    for turn in &mut out {
        if let Some(Value::Array(blocks)) = turn.get_mut("content") {
            blocks.sort_by_key(|b| b["type"] != "tool_result");
        }
    }
    out
}

fn assistant_blocks(message: &Message, last: bool) -> Vec<Value> {
    let mut blocks: Vec<Value> = message
        .reasoning
        .iter()
        .filter(|r| replayable(r))
        .map(|r| match r {
            Reasoning::Text { text, signature } => {
                json!({"type": "thinking", "thinking": text, "signature": signature})
            }
            Reasoning::Redacted { data } => json!({"type": "redacted_thinking", "data": data}),
        })
        .collect();
    let texts: Vec<Value> = message.parts.iter().filter_map(block).collect();
    let count = texts.len();
    for (k, mut text) in texts.into_iter().enumerate() {
        // Anthropic refuses a final assistant turn ending in whitespace.
        if last && k + 1 == count && message.tool_calls.is_empty() {
            if let Some(Value::String(t)) = text.get_mut("text") {
                t.truncate(t.trim_end().len());
            }
        }
        blocks.push(text);
    }
    for call in &message.tool_calls {
        let input = match call.kind {
            ToolKind::Custom => json!({"input": call.arguments}),
            // Anthropic needs an object; arguments that are not one become
            // `{}` rather than a string it would refuse.
            ToolKind::Function => serde_json::from_str::<Value>(&call.arguments)
                .ok()
                .filter(Value::is_object)
                .unwrap_or_else(|| json!({})),
        };
        blocks.push(json!({
            "type": "tool_use",
            "id": anthropic_tool_id(&call.id),
            "name": call.name,
            "input": input,
        }));
    }
    blocks
}

fn tool_result(message: &Message) -> Value {
    let id = anthropic_tool_id(message.tool_call_id.as_deref().unwrap_or_default()).into_owned();
    let only_text = message.parts.iter().all(|p| matches!(p, Part::Text { .. }));
    let content: Value = if only_text {
        let texts: Vec<&str> = message
            .parts
            .iter()
            .filter_map(|p| match p {
                Part::Text { text, .. } => Some(text.as_str()),
                Part::Image { .. } => None,
            })
            .collect();
        texts.join("\n\n").into()
    } else {
        message.parts.iter().filter_map(block).collect::<Vec<_>>().into()
    };
    let mut result = json!({"type": "tool_result", "tool_use_id": id, "content": content});
    if let Some(fields) = result.as_object_mut().filter(|_| message.is_error) {
        fields.insert("is_error".into(), true.into());
    }
    result
}

/// Keeps the last four `cache_control` marks (tools, then system, then
/// messages: the later a mark, the more prefix it caches) and drops the
/// rest, since Anthropic refuses a fifth.
fn limit_breakpoints(body: &mut Value) {
    let count = marked_blocks(body).filter(|b| b.get("cache_control").is_some()).count();
    let mut excess = count.saturating_sub(MAX_BREAKPOINTS);
    for block in marked_blocks(body) {
        if excess == 0 {
            break;
        }
        if block.remove("cache_control").is_some() {
            excess -= 1;
        }
    }
}

/// Every block that can carry `cache_control`, in Anthropic's cache order.
fn marked_blocks(body: &mut Value) -> impl Iterator<Item = &mut Map<String, Value>> {
    let obj = body.as_object_mut();
    let (mut tools, mut system, mut messages) = (None, None, None);
    for (key, value) in obj.into_iter().flat_map(|o| o.iter_mut()) {
        match key.as_str() {
            "tools" => tools = value.as_array_mut(),
            "system" => system = value.as_array_mut(),
            "messages" => messages = value.as_array_mut(),
            _ => {}
        }
    }
    let turns = messages
        .into_iter()
        .flatten()
        .filter_map(|turn| turn.get_mut("content").and_then(Value::as_array_mut))
        .flatten();
    tools
        .into_iter()
        .flatten()
        .chain(system.into_iter().flatten())
        .chain(turns)
        .filter_map(Value::as_object_mut)
}
