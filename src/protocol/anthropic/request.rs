//! An Anthropic Messages request as the hub's request form (for Anthropic
//! clients, such as Claude Code, whose model is served by another format).
//! Mistakes are refused with the path of the field at fault, as Anthropic
//! itself would.

use serde_json::{Map, Value};

use crate::protocol::chat::image_source;
use crate::protocol::hub::{
    CacheControl, ImageSource, JsonSchema, Message, Part, Reasoning, ReasoningConfig, Request, Role, Tool, ToolCall,
    ToolChoice, ToolKind,
};
use crate::protocol::ids::upstream_tool_id;
use crate::protocol::ProtocolError;

/// A Messages request, and a note for each thing it asked for that the
/// hub cannot carry (server tools), for the caller to log or show.
pub fn parse_request(body: &[u8]) -> Result<(Request, Vec<String>), ProtocolError> {
    parse(body, true)
}

/// A token-counting request (`/v1/messages/count_tokens`): a Messages
/// request that carries no `max_tokens`.
pub fn parse_count_request(body: &[u8]) -> Result<Request, ProtocolError> {
    parse(body, false).map(|(request, _)| request)
}

fn parse(body: &[u8], answered: bool) -> Result<(Request, Vec<String>), ProtocolError> {
    let root: Value = serde_json::from_slice(body).map_err(ProtocolError::json)?;
    let obj = root
        .as_object()
        .ok_or_else(|| ProtocolError::invalid("", "The request body must be a JSON object."))?;
    let max_tokens = match (obj.get("max_tokens"), answered) {
        (None, true) => return Err(ProtocolError::invalid("max_tokens", "Field required.")),
        (None, false) => None,
        (Some(value), _) => Some(
            value
                .as_u64()
                .ok_or_else(|| ProtocolError::invalid("max_tokens", "Must be a positive integer."))?,
        ),
    };
    let mut notes = Vec::new();
    let mut request = Request {
        model: obj.get("model").and_then(Value::as_str).unwrap_or_default().to_owned(),
        max_tokens,
        stream: obj.get("stream").and_then(Value::as_bool).unwrap_or(false),
        temperature: obj.get("temperature").and_then(Value::as_f64),
        top_p: obj.get("top_p").and_then(Value::as_f64),
        stop: obj
            .get("stop_sequences")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        user: obj
            .get("metadata")
            .and_then(|m| m.get("user_id"))
            .and_then(Value::as_str)
            .map(str::to_owned),
        reasoning: reasoning(obj),
        json_schema: obj
            .get("output_config")
            .and_then(|c| c.get("format"))
            .or_else(|| obj.get("output_format"))
            .and_then(json_schema),
        ..Request::default()
    };
    match obj.get("system") {
        None | Some(Value::Null) => {}
        Some(system) => {
            let parts = text_parts(system, "system")?;
            request.messages.push(Message::new(Role::System, parts));
        }
    }
    let messages = obj
        .get("messages")
        .ok_or_else(|| ProtocolError::invalid("messages", "Field required."))?
        .as_array()
        .ok_or_else(|| ProtocolError::invalid("messages", "Must be a list of messages."))?;
    for (i, message) in messages.iter().enumerate() {
        parse_message(message, i, &mut request.messages)?;
    }
    for (i, tool) in obj
        .get("tools")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        match tool.get("type").and_then(Value::as_str) {
            None | Some("custom") => request.tools.push(parse_tool(tool, i)?),
            Some(server) => notes.push(format!(
                "The server tool `{server}` was dropped: only Anthropic itself runs it."
            )),
        }
    }
    if let Some(choice) = obj.get("tool_choice") {
        request.tool_choice = match choice.get("type").and_then(Value::as_str) {
            Some("auto") => Some(ToolChoice::Auto),
            Some("any") => Some(ToolChoice::Required),
            Some("none") => Some(ToolChoice::None),
            Some("tool") => {
                let name = choice
                    .get("name")
                    .and_then(Value::as_str)
                    .ok_or_else(|| ProtocolError::invalid("tool_choice.name", "Field required."))?;
                Some(ToolChoice::Tool(name.to_owned()))
            }
            _ => {
                return Err(ProtocolError::invalid(
                    "tool_choice.type",
                    "Must be one of auto, any, tool or none.",
                ))
            }
        };
        if choice.get("disable_parallel_tool_use").and_then(Value::as_bool) == Some(true) {
            request.parallel_tool_calls = Some(false);
        }
    }
    Ok((request, notes))
}

fn reasoning(obj: &Map<String, Value>) -> Option<ReasoningConfig> {
    let thinking = obj.get("thinking");
    let effort = obj
        .get("output_config")
        .and_then(|c| c.get("effort"))
        .and_then(Value::as_str);
    match thinking.and_then(|t| t.get("type")).and_then(Value::as_str) {
        Some("disabled") => None,
        Some("enabled") => Some(ReasoningConfig {
            effort: effort.map(str::to_owned),
            budget_tokens: thinking.and_then(|t| t.get("budget_tokens")).and_then(Value::as_u64),
        }),
        Some(_) => Some(ReasoningConfig {
            effort: Some(effort.unwrap_or("medium").to_owned()),
            budget_tokens: None,
        }),
        None => effort.map(|e| ReasoningConfig {
            effort: Some(e.to_owned()),
            budget_tokens: None,
        }),
    }
}

fn json_schema(format: &Value) -> Option<JsonSchema> {
    (format.get("type").and_then(Value::as_str) == Some("json_schema")).then(|| JsonSchema {
        name: "structured_output".to_owned(),
        schema: format.get("schema").cloned().unwrap_or(Value::Null),
        strict: None,
    })
}

fn cache(block: &Value) -> Option<CacheControl> {
    let control = block.get("cache_control")?;
    control.is_object().then(|| CacheControl {
        ttl: control.get("ttl").and_then(Value::as_str).map(str::to_owned),
    })
}

/// A string, or a list of text blocks (`system`, a system turn).
fn text_parts(value: &Value, field: &str) -> Result<Vec<Part>, ProtocolError> {
    match value {
        Value::String(text) => Ok(vec![Part::Text {
            text: text.clone(),
            cache: None,
        }]),
        Value::Array(blocks) => blocks
            .iter()
            .enumerate()
            .map(|(j, block)| match block.get("type").and_then(Value::as_str) {
                Some("text") => Ok(Part::Text {
                    text: block_text(block),
                    cache: cache(block),
                }),
                _ => Err(ProtocolError::invalid(
                    format!("{field}.{j}.type"),
                    "Only text blocks are allowed here.",
                )),
            })
            .collect(),
        _ => Err(ProtocolError::invalid(
            field,
            "Must be a string or a list of text blocks.",
        )),
    }
}

fn block_text(block: &Value) -> String {
    block.get("text").and_then(Value::as_str).unwrap_or_default().to_owned()
}

fn parse_message(message: &Value, i: usize, out: &mut Vec<Message>) -> Result<(), ProtocolError> {
    let content_field = format!("messages.{i}.content");
    let role = match message.get("role").and_then(Value::as_str) {
        Some("user") => Role::User,
        Some("assistant") => Role::Assistant,
        Some("system") => Role::System,
        other => {
            return Err(ProtocolError::invalid(
                format!("messages.{i}.role"),
                format!(
                    "Unknown role {}: expected user, assistant or system.",
                    other.map_or("(none)".to_owned(), |r| format!("`{r}`"))
                ),
            ))
        }
    };
    let content = message
        .get("content")
        .ok_or_else(|| ProtocolError::invalid(&content_field, "Field required."))?;
    if role == Role::System {
        out.push(Message::new(Role::System, text_parts(content, &content_field)?));
        return Ok(());
    }
    let blocks = match content {
        Value::String(text) => {
            out.push(Message::new(
                role,
                vec![Part::Text {
                    text: text.clone(),
                    cache: None,
                }],
            ));
            return Ok(());
        }
        Value::Array(blocks) => blocks,
        _ => {
            return Err(ProtocolError::invalid(
                content_field,
                "Must be a string or a list of content blocks.",
            ))
        }
    };
    let mut turn = Message::new(role, Vec::new());
    for (j, block) in blocks.iter().enumerate() {
        let field = format!("{content_field}.{j}");
        let kind = block.get("type").and_then(Value::as_str).unwrap_or_default();
        match (role, kind) {
            (_, "text") => turn.parts.push(Part::Text {
                text: block_text(block),
                cache: cache(block),
            }),
            (_, "image") => turn.parts.push(image(block, &field)?),
            (_, "document") => turn.parts.push(document(block, &field)?),
            (Role::User, "tool_result") => out.push(tool_result(block, &field)?),
            (Role::Assistant, "tool_use") => turn.tool_calls.push(tool_use(block, &field)?),
            (Role::Assistant, "thinking") => turn.reasoning.push(Reasoning::Text {
                text: block
                    .get("thinking")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                signature: block
                    .get("signature")
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned),
            }),
            (Role::Assistant, "redacted_thinking") => turn.reasoning.push(Reasoning::Redacted {
                data: block.get("data").and_then(Value::as_str).unwrap_or_default().to_owned(),
            }),
            // Anthropic ran these itself; other providers cannot replay them.
            (Role::Assistant, "server_tool_use" | "web_search_tool_result" | "web_fetch_tool_result") => {}
            (_, other) => {
                return Err(ProtocolError::invalid(
                    format!("{field}.type"),
                    format!("A message of role `{}` cannot hold a `{other}` block.", role_name(role)),
                ))
            }
        }
    }
    let has_content = !turn.parts.is_empty() || !turn.tool_calls.is_empty() || !turn.reasoning.is_empty();
    if has_content {
        out.push(turn);
    }
    Ok(())
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::System => "system",
        Role::User => "user",
        Role::Assistant => "assistant",
        Role::Tool => "tool",
    }
}

fn image(block: &Value, field: &str) -> Result<Part, ProtocolError> {
    let source = block.get("source");
    let text = |key: &str| source.and_then(|s| s.get(key)).and_then(Value::as_str);
    let source = match text("type") {
        Some("base64") => ImageSource::Base64 {
            media_type: text("media_type").unwrap_or("image/png").to_owned(),
            data: text("data").unwrap_or_default().to_owned(),
        },
        Some("url") => image_source(text("url").unwrap_or_default()),
        _ => {
            return Err(ProtocolError::invalid(
                format!("{field}.source.type"),
                "Only base64 and url image sources can be sent to this model's provider.",
            ))
        }
    };
    Ok(Part::Image {
        source,
        cache: cache(block),
    })
}

/// A document whose text the provider can read as text; other documents
/// (PDF bytes, files) have no place in the hub yet.
fn document(block: &Value, field: &str) -> Result<Part, ProtocolError> {
    let source = block.get("source");
    match source.and_then(|s| s.get("type")).and_then(Value::as_str) {
        Some("text") => Ok(Part::Text {
            text: source
                .and_then(|s| s.get("data"))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            cache: cache(block),
        }),
        _ => Err(ProtocolError::invalid(
            format!("{field}.source.type"),
            "Only text documents can be sent to this model's provider.",
        )),
    }
}

fn tool_result(block: &Value, field: &str) -> Result<Message, ProtocolError> {
    let id = block
        .get("tool_use_id")
        .and_then(Value::as_str)
        .ok_or_else(|| ProtocolError::invalid(format!("{field}.tool_use_id"), "Field required."))?;
    let parts = match block.get("content") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(text)) => vec![Part::Text {
            text: text.clone(),
            cache: None,
        }],
        Some(Value::Array(items)) => {
            let mut parts = Vec::with_capacity(items.len());
            for (k, item) in items.iter().enumerate() {
                let item_field = format!("{field}.content.{k}");
                match item.get("type").and_then(Value::as_str) {
                    Some("text") => parts.push(Part::Text {
                        text: block_text(item),
                        cache: None,
                    }),
                    Some("image") => parts.push(image(item, &item_field)?),
                    Some("document") => parts.push(document(item, &item_field)?),
                    _ => {
                        return Err(ProtocolError::invalid(
                            format!("{item_field}.type"),
                            "A tool result holds only text, image and document blocks.",
                        ))
                    }
                }
            }
            parts
        }
        Some(_) => {
            return Err(ProtocolError::invalid(
                format!("{field}.content"),
                "Must be a string or a list of content blocks.",
            ))
        }
    };
    Ok(Message {
        tool_call_id: Some(upstream_tool_id(id).into_owned()),
        is_error: block.get("is_error").and_then(Value::as_bool).unwrap_or(false),
        ..Message::new(Role::Tool, parts)
    })
}

fn tool_use(block: &Value, field: &str) -> Result<ToolCall, ProtocolError> {
    let text = |key: &str| {
        block
            .get(key)
            .and_then(Value::as_str)
            .ok_or_else(|| ProtocolError::invalid(format!("{field}.{key}"), "Field required."))
    };
    Ok(ToolCall {
        id: upstream_tool_id(text("id")?).into_owned(),
        name: text("name")?.to_owned(),
        arguments: block.get("input").map_or_else(|| "{}".to_owned(), Value::to_string),
        kind: ToolKind::Function,
    })
}

fn parse_tool(tool: &Value, i: usize) -> Result<Tool, ProtocolError> {
    let name = tool.get("name").and_then(Value::as_str).filter(|n| !n.is_empty());
    let name = name.ok_or_else(|| ProtocolError::invalid(format!("tools.{i}.name"), "Field required."))?;
    Ok(Tool {
        name: name.to_owned(),
        description: tool.get("description").and_then(Value::as_str).map(str::to_owned),
        parameters: tool.get("input_schema").cloned().unwrap_or(Value::Null),
        kind: ToolKind::Function,
        cache: cache(tool),
    })
}
