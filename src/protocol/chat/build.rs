//! The hub's request as a chat completions body, in the shape the strictest
//! OpenAI-compatible servers (vLLM templates, Kimi, DeepSeek) accept.

use serde_json::{json, Map, Value};

use crate::protocol::hub::{ImageSource, Message, Part, Reasoning, Request, Role, ToolChoice, ToolKind};
use crate::protocol::ids::upstream_tool_name;

/// What opens a system turn that had to become a user turn.
pub const SYSTEM_MARKER: &str = "[System message from the client application, not the user]";

/// What opens the text of a tool result the tool marked as failed (chat has
/// no such field, and the model must still see it).
pub const ERROR_PREFIX: &str = "Error: ";

/// The schema a freeform tool is offered under: one string argument.
fn custom_schema() -> Value {
    json!({"type": "object", "properties": {"input": {"type": "string"}}, "required": ["input"]})
}

/// A chat body for the request, and the tool names it had to change
/// (`(sent, client's)`).
pub fn build_request(request: &Request) -> (Value, Vec<(String, String)>) {
    let mut body = Map::new();
    body.insert("model".into(), request.model.clone().into());
    body.insert("messages".into(), messages(&request.messages).into());
    let mut renamed = Vec::new();
    if !request.tools.is_empty() {
        let tools: Vec<Value> = request
            .tools
            .iter()
            .map(|tool| {
                let name = upstream_tool_name(&tool.name);
                if name != tool.name {
                    renamed.push((name.to_string(), tool.name.clone()));
                }
                let mut function = Map::new();
                function.insert("name".into(), name.into_owned().into());
                if let Some(description) = &tool.description {
                    function.insert("description".into(), description.clone().into());
                }
                let parameters = match tool.kind {
                    ToolKind::Custom => custom_schema(),
                    ToolKind::Function if tool.parameters.is_object() => tool.parameters.clone(),
                    ToolKind::Function => json!({"type": "object", "properties": {}}),
                };
                function.insert("parameters".into(), parameters);
                json!({"type": "function", "function": function})
            })
            .collect();
        body.insert("tools".into(), tools.into());
        if let Some(parallel) = request.parallel_tool_calls {
            body.insert("parallel_tool_calls".into(), parallel.into());
        }
    }
    if let Some(choice) = &request.tool_choice {
        body.insert(
            "tool_choice".into(),
            match choice {
                ToolChoice::Auto => "auto".into(),
                ToolChoice::None => "none".into(),
                ToolChoice::Required => "required".into(),
                ToolChoice::Tool(name) => {
                    json!({"type": "function", "function": {"name": upstream_tool_name(name)}})
                }
            },
        );
    }
    if let Some(max) = request.max_tokens {
        body.insert("max_tokens".into(), max.into());
    }
    if let Some(t) = request.temperature {
        body.insert("temperature".into(), t.into());
    }
    if let Some(p) = request.top_p {
        body.insert("top_p".into(), p.into());
    }
    // OpenAI takes at most four stop sequences.
    let stop: Vec<&String> = request.stop.iter().filter(|s| !s.is_empty()).take(4).collect();
    if !stop.is_empty() {
        body.insert("stop".into(), json!(stop));
    }
    if let Some(user) = &request.user {
        body.insert("user".into(), user.clone().into());
    }
    if let Some(effort) = request.reasoning.as_ref().and_then(|r| r.effort_or_bucket()) {
        body.insert("reasoning_effort".into(), effort.into());
    }
    if let Some(schema) = &request.json_schema {
        let mut spec = json!({"name": schema.name, "schema": schema.schema});
        if let (Some(strict), Some(fields)) = (schema.strict, spec.as_object_mut()) {
            fields.insert("strict".into(), strict.into());
        }
        body.insert(
            "response_format".into(),
            json!({"type": "json_schema", "json_schema": spec}),
        );
    }
    if request.stream {
        body.insert("stream".into(), true.into());
        // The usage is needed whatever the client asked: it is translated
        // into the client's own format and recorded for spend.
        body.insert("stream_options".into(), json!({"include_usage": true}));
    }
    (Value::Object(body), renamed)
}

/// The conversation in chat's order rules: system text first and only
/// first, tool messages right after their call, images of tool results in a
/// user turn after them, no two turns of one role in a row.
fn messages(messages: &[Message]) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::with_capacity(messages.len() + 1);
    let leading = messages.iter().take_while(|m| m.role == Role::System).count();
    let system = join_text(messages.iter().take(leading).flat_map(|m| &m.parts));
    if !system.is_empty() {
        out.push(json!({"role": "system", "content": system}));
    }
    let mut tool_images: Vec<Value> = Vec::new();
    for message in messages.iter().skip(leading) {
        if message.role != Role::Tool && !tool_images.is_empty() {
            push_merged(&mut out, "user", std::mem::take(&mut tool_images));
        }
        match message.role {
            Role::System => {
                let mut parts = vec![json!({"type": "text", "text": SYSTEM_MARKER})];
                parts.extend(content_parts(&message.parts));
                push_merged(&mut out, "user", parts);
            }
            Role::User => push_merged(&mut out, "user", content_parts(&message.parts)),
            Role::Assistant => push_assistant(&mut out, message),
            Role::Tool => {
                let mut text = join_text(message.parts.iter());
                if message.is_error {
                    text.insert_str(0, ERROR_PREFIX);
                }
                tool_images.extend(
                    message
                        .parts
                        .iter()
                        .filter(|p| matches!(p, Part::Image { .. }))
                        .map(image_part),
                );
                out.push(json!({
                    "role": "tool",
                    "tool_call_id": message.tool_call_id.clone().unwrap_or_default(),
                    "content": text,
                }));
            }
        }
    }
    if !tool_images.is_empty() {
        push_merged(&mut out, "user", tool_images);
    }
    for message in &mut out {
        simplify(message);
    }
    out
}

fn push_assistant(out: &mut Vec<Value>, message: &Message) {
    let text = join_text(message.parts.iter());
    let reasoning: String = message
        .reasoning
        .iter()
        .filter_map(|r| match r {
            Reasoning::Text { text, .. } => Some(text.as_str()),
            Reasoning::Redacted { .. } => None,
        })
        .collect();
    let mut turn = Map::new();
    turn.insert("role".into(), "assistant".into());
    turn.insert(
        "content".into(),
        if text.is_empty() { Value::Null } else { text.into() },
    );
    if !reasoning.is_empty() {
        // DeepSeek and Kimi thinking modes want it back on tool turns.
        turn.insert("reasoning_content".into(), reasoning.into());
    }
    if !message.tool_calls.is_empty() {
        let calls: Vec<Value> = message
            .tool_calls
            .iter()
            .map(|call| {
                let arguments = match call.kind {
                    ToolKind::Custom => json!({"input": call.arguments}).to_string(),
                    ToolKind::Function if call.arguments.trim().is_empty() => "{}".to_owned(),
                    ToolKind::Function => call.arguments.clone(),
                };
                json!({"id": call.id, "type": "function",
                       "function": {"name": upstream_tool_name(&call.name), "arguments": arguments}})
            })
            .collect();
        turn.insert("tool_calls".into(), calls.into());
    }
    let mergeable = message.tool_calls.is_empty()
        && out
            .last()
            .is_some_and(|last| last["role"] == "assistant" && last.get("tool_calls").is_none());
    match out.last_mut() {
        Some(last) if mergeable => {
            if let (Some(Value::String(old)), Value::String(new)) =
                (last.get_mut("content"), turn.remove("content").unwrap_or(Value::Null))
            {
                old.push_str("\n\n");
                old.push_str(&new);
            } else if let Some(Value::String(new)) = turn.remove("content") {
                last["content"] = new.into();
            }
        }
        _ => out.push(Value::Object(turn)),
    }
}

/// Appends parts as a turn of `role`, or to the last turn when it has the
/// same role (some servers reject two user turns in a row).
fn push_merged(out: &mut Vec<Value>, role: &str, parts: Vec<Value>) {
    if parts.is_empty() {
        return;
    }
    if let Some(last) = out.last_mut().filter(|last| last["role"] == role) {
        if let Some(Value::Array(existing)) = last.get_mut("content") {
            existing.extend(parts);
            return;
        }
    }
    out.push(json!({"role": role, "content": parts}));
}

/// A user turn of text parts only goes as one string: the widest accepted
/// shape.
fn simplify(message: &mut Value) {
    let Some(Value::Array(parts)) = message.get("content") else {
        return;
    };
    if parts.iter().all(|p| p["type"] == "text") {
        let texts: Vec<&str> = parts.iter().filter_map(|p| p["text"].as_str()).collect();
        message["content"] = texts.join("\n\n").into();
    }
}

fn content_parts(parts: &[Part]) -> Vec<Value> {
    parts
        .iter()
        .filter_map(|part| match part {
            Part::Text { text, .. } if text.trim().is_empty() => None,
            Part::Text { text, .. } => Some(json!({"type": "text", "text": text})),
            Part::Image { .. } => Some(image_part(part)),
        })
        .collect()
}

fn image_part(part: &Part) -> Value {
    let url = match part {
        Part::Image {
            source: ImageSource::Url(url),
            ..
        } => url.clone(),
        Part::Image {
            source: ImageSource::Base64 { media_type, data },
            ..
        } => {
            format!("data:{media_type};base64,{data}")
        }
        Part::Text { .. } => String::new(),
    };
    json!({"type": "image_url", "image_url": {"url": url}})
}

/// The non-empty texts of parts, joined by blank lines.
fn join_text<'a>(parts: impl Iterator<Item = &'a Part>) -> String {
    let texts: Vec<&str> = parts
        .filter_map(|p| match p {
            Part::Text { text, .. } if !text.trim().is_empty() => Some(text.as_str()),
            _ => None,
        })
        .collect();
    texts.join("\n\n")
}
