//! A chat completions request as the hub's request form (for chat clients
//! whose model is served by an upstream of another format).

use serde_json::Value;

use crate::protocol::hub::{
    ImageSource, JsonSchema, Message, Part, Reasoning, ReasoningConfig, Request, Role, Tool, ToolCall, ToolChoice,
    ToolKind,
};
use crate::protocol::ProtocolError;

/// A chat request, and whether it asked for usage in its stream.
pub fn parse_request(body: &[u8]) -> Result<(Request, bool), ProtocolError> {
    let root: Value = serde_json::from_slice(body).map_err(ProtocolError::json)?;
    let Some(obj) = root.as_object() else {
        return Err(ProtocolError::invalid("", "The request body must be a JSON object."));
    };
    let mut request = Request {
        model: obj.get("model").and_then(Value::as_str).unwrap_or_default().to_owned(),
        stream: obj.get("stream").and_then(Value::as_bool).unwrap_or(false),
        temperature: obj.get("temperature").and_then(Value::as_f64),
        top_p: obj.get("top_p").and_then(Value::as_f64),
        max_tokens: obj
            .get("max_completion_tokens")
            .and_then(Value::as_u64)
            .or_else(|| obj.get("max_tokens").and_then(Value::as_u64)),
        parallel_tool_calls: obj.get("parallel_tool_calls").and_then(Value::as_bool),
        user: obj.get("user").and_then(Value::as_str).map(str::to_owned),
        ..Request::default()
    };
    let messages = obj
        .get("messages")
        .and_then(Value::as_array)
        .ok_or_else(|| ProtocolError::invalid("messages", "`messages` must be an array."))?;
    for (i, message) in messages.iter().enumerate() {
        request.messages.push(parse_message(message, i)?);
    }
    for (i, tool) in obj
        .get("tools")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        request.tools.push(parse_tool(tool, i)?);
    }
    request.tool_choice = obj.get("tool_choice").and_then(parse_tool_choice);
    request.stop = match obj.get("stop") {
        Some(Value::String(stop)) => vec![stop.clone()],
        Some(Value::Array(stops)) => stops.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
        _ => Vec::new(),
    };
    if let Some(effort) = obj.get("reasoning_effort").and_then(Value::as_str) {
        request.reasoning = Some(ReasoningConfig {
            effort: Some(effort.to_owned()),
            budget_tokens: None,
        });
    }
    request.json_schema = obj.get("response_format").and_then(parse_response_format);
    let include_usage = obj
        .get("stream_options")
        .and_then(|o| o.get("include_usage"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    Ok((request, include_usage))
}

fn parse_message(message: &Value, i: usize) -> Result<Message, ProtocolError> {
    let field = |name: &str| format!("messages.{i}.{name}");
    let role = match message.get("role").and_then(Value::as_str) {
        Some("system" | "developer") => Role::System,
        Some("user") => Role::User,
        Some("assistant") => Role::Assistant,
        Some("tool") => Role::Tool,
        other => {
            return Err(ProtocolError::invalid(
                field("role"),
                format!(
                    "Unknown role {}: expected system, developer, user, assistant or tool.",
                    other.map_or("(none)".to_owned(), |r| format!("`{r}`"))
                ),
            ))
        }
    };
    let mut out = Message::new(role, parse_content(message.get("content"), &field("content"))?);
    if role == Role::Assistant {
        if let Some(text) = message
            .get("reasoning_content")
            .or_else(|| message.get("reasoning"))
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
        {
            out.reasoning.push(Reasoning::Text {
                text: text.to_owned(),
                signature: None,
            });
        }
        for (j, call) in message
            .get("tool_calls")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            let function = call.get("function");
            let text = |v: Option<&Value>, key: &str| {
                v.and_then(|v| v.get(key))
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned()
            };
            let name = text(function, "name");
            if name.is_empty() {
                return Err(ProtocolError::invalid(
                    format!("messages.{i}.tool_calls.{j}.function.name"),
                    "A tool call needs a function name.",
                ));
            }
            out.tool_calls.push(ToolCall {
                id: text(Some(call), "id"),
                name,
                arguments: text(function, "arguments"),
                kind: ToolKind::Function,
            });
        }
    }
    if role == Role::Tool {
        out.tool_call_id = message.get("tool_call_id").and_then(Value::as_str).map(str::to_owned);
    }
    Ok(out)
}

fn parse_content(content: Option<&Value>, field: &str) -> Result<Vec<Part>, ProtocolError> {
    match content {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(text)) => Ok(vec![Part::Text {
            text: text.clone(),
            cache: None,
        }]),
        Some(Value::Array(parts)) => {
            let mut out = Vec::with_capacity(parts.len());
            for (j, part) in parts.iter().enumerate() {
                match part.get("type").and_then(Value::as_str) {
                    Some("text" | "input_text" | "output_text") => {
                        let text = part.get("text").and_then(Value::as_str).unwrap_or_default();
                        out.push(Part::Text {
                            text: text.to_owned(),
                            cache: None,
                        });
                    }
                    Some("image_url") => {
                        let url = part
                            .get("image_url")
                            .and_then(|i| i.get("url").or(Some(i)))
                            .and_then(Value::as_str)
                            .ok_or_else(|| {
                                ProtocolError::invalid(
                                    format!("{field}.{j}.image_url.url"),
                                    "An image part needs a URL.",
                                )
                            })?;
                        out.push(Part::Image {
                            source: image_source(url),
                            cache: None,
                        });
                    }
                    // Refusals are the model's words: keep them as text.
                    Some("refusal") => {
                        let text = part.get("refusal").and_then(Value::as_str).unwrap_or_default();
                        out.push(Part::Text {
                            text: text.to_owned(),
                            cache: None,
                        });
                    }
                    other => {
                        return Err(ProtocolError::invalid(
                            format!("{field}.{j}.type"),
                            format!(
                                "Content parts of type {} cannot be sent to this model's provider.",
                                other.map_or("(none)".to_owned(), |t| format!("`{t}`"))
                            ),
                        ))
                    }
                }
            }
            Ok(out)
        }
        Some(_) => Err(ProtocolError::invalid(field, "Content must be a string or an array.")),
    }
}

/// An image URL as the hub's source: `data:` URLs are inline bytes.
pub fn image_source(url: &str) -> ImageSource {
    if let Some(rest) = url.strip_prefix("data:") {
        if let Some((media_type, data)) = rest.split_once(";base64,") {
            return ImageSource::Base64 {
                media_type: media_type.to_owned(),
                data: data.to_owned(),
            };
        }
    }
    ImageSource::Url(url.to_owned())
}

fn parse_tool(tool: &Value, i: usize) -> Result<Tool, ProtocolError> {
    let function = tool.get("function").unwrap_or(tool);
    let name = function.get("name").and_then(Value::as_str).unwrap_or_default();
    if name.is_empty() {
        return Err(ProtocolError::invalid(
            format!("tools.{i}.function.name"),
            "Every tool needs a name.",
        ));
    }
    Ok(Tool {
        name: name.to_owned(),
        description: function.get("description").and_then(Value::as_str).map(str::to_owned),
        parameters: function.get("parameters").cloned().unwrap_or(Value::Null),
        kind: ToolKind::Function,
        cache: None,
    })
}

fn parse_tool_choice(choice: &Value) -> Option<ToolChoice> {
    match choice {
        Value::String(s) => match s.as_str() {
            "auto" => Some(ToolChoice::Auto),
            "none" => Some(ToolChoice::None),
            "required" => Some(ToolChoice::Required),
            _ => None,
        },
        Value::Object(_) => choice
            .get("function")
            .and_then(|f| f.get("name"))
            .and_then(Value::as_str)
            .map(|name| ToolChoice::Tool(name.to_owned())),
        _ => None,
    }
}

fn parse_response_format(format: &Value) -> Option<JsonSchema> {
    if format.get("type").and_then(Value::as_str) != Some("json_schema") {
        return None;
    }
    let spec = format.get("json_schema")?;
    Some(JsonSchema {
        name: spec.get("name").and_then(Value::as_str).unwrap_or("answer").to_owned(),
        schema: spec.get("schema").cloned().unwrap_or(Value::Null),
        strict: spec.get("strict").and_then(Value::as_bool),
    })
}
