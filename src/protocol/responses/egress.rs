//! The hub request → a Responses request body, for clients of other formats
//! on a deployment that serves only the Responses API.

use serde_json::{json, Map, Value};

use crate::protocol::hub::{ImageSource, Message, Part, Request, Role, ToolChoice, ToolKind};

/// Builds the Responses body for `request`. Nothing is stored upstream
/// (`store: false`): the gateway resends the whole conversation each turn.
/// Reasoning text from other providers is not sent: OpenAI accepts only its
/// own encrypted reasoning back. Stop sequences have no Responses spelling.
pub fn to_responses(request: &Request) -> Value {
    let mut body = Map::new();
    body.insert("model".into(), json!(request.model));
    let mut input = Vec::new();
    for message in &request.messages {
        message_items(message, request, &mut input);
    }
    body.insert("input".into(), Value::Array(input));
    if !request.tools.is_empty() {
        let tools = request.tools.iter().map(|tool| {
            let mut item = match tool.kind {
                ToolKind::Function => {
                    json!({"type": "function", "name": tool.name, "parameters": tool.parameters})
                }
                ToolKind::Custom => json!({"type": "custom", "name": tool.name}),
            };
            if let (Some(description), Some(map)) = (&tool.description, item.as_object_mut()) {
                map.insert("description".into(), json!(description));
            }
            item
        });
        body.insert("tools".into(), Value::Array(tools.collect()));
    }
    if let Some(choice) = &request.tool_choice {
        let choice = match choice {
            ToolChoice::Auto => json!("auto"),
            ToolChoice::None => json!("none"),
            ToolChoice::Required => json!("required"),
            ToolChoice::Tool(name) => match request.tools.iter().find(|t| &t.name == name).map(|t| t.kind) {
                Some(ToolKind::Custom) => json!({"type": "custom", "name": name}),
                _ => json!({"type": "function", "name": name}),
            },
        };
        body.insert("tool_choice".into(), choice);
    }
    let mut put = |key: &str, value: Option<Value>| {
        if let Some(value) = value {
            body.insert(key.into(), value);
        }
    };
    put("parallel_tool_calls", request.parallel_tool_calls.map(Value::from));
    put("max_output_tokens", request.max_tokens.map(Value::from));
    put("temperature", request.temperature.map(Value::from));
    put("top_p", request.top_p.map(Value::from));
    put("user", request.user.clone().map(Value::from));
    put(
        "reasoning",
        request
            .reasoning
            .as_ref()
            .and_then(|r| r.effort.clone())
            .map(|e| json!({"effort": e})),
    );
    put(
        "text",
        request.json_schema.as_ref().map(|s| {
            let mut format = json!({"type": "json_schema", "name": s.name, "schema": s.schema});
            if let (Some(strict), Some(map)) = (s.strict, format.as_object_mut()) {
                map.insert("strict".into(), json!(strict));
            }
            json!({ "format": format })
        }),
    );
    body.insert("stream".into(), json!(request.stream));
    body.insert("store".into(), json!(false));
    Value::Object(body)
}

/// One hub message as Responses input items.
fn message_items(message: &Message, request: &Request, input: &mut Vec<Value>) {
    match message.role {
        Role::System | Role::User => {
            let role = if message.role == Role::System { "system" } else { "user" };
            let content: Vec<Value> = message.parts.iter().map(input_part).collect();
            if !content.is_empty() {
                input.push(json!({"type": "message", "role": role, "content": content}));
            }
        }
        Role::Assistant => {
            let text = joined_text(&message.parts);
            if !text.is_empty() {
                input.push(json!({"type": "message", "role": "assistant",
                    "content": [{"type": "output_text", "text": text}]}));
            }
            for call in &message.tool_calls {
                input.push(match call.kind {
                    ToolKind::Function => json!({"type": "function_call", "call_id": call.id,
                        "name": call.name, "arguments": call.arguments}),
                    ToolKind::Custom => json!({"type": "custom_tool_call", "call_id": call.id,
                        "name": call.name, "input": call.arguments}),
                });
            }
        }
        Role::Tool => input.push(tool_output(message, request)),
    }
}

/// A tool's result: `custom_tool_call_output` for a freeform call, else
/// `function_call_output` (its images as parts of an output array).
fn tool_output(message: &Message, request: &Request) -> Value {
    let call_id = message.tool_call_id.clone().unwrap_or_default();
    let custom = request
        .messages
        .iter()
        .flat_map(|m| &m.tool_calls)
        .any(|c| c.id == call_id && c.kind == ToolKind::Custom);
    let mut text = joined_text(&message.parts);
    // Responses has no error flag: the model reads it in the text.
    if message.is_error {
        text = format!("Error: {text}");
    }
    let has_image = message.parts.iter().any(|p| matches!(p, Part::Image { .. }));
    if custom {
        return json!({"type": "custom_tool_call_output", "call_id": call_id, "output": text});
    }
    if !has_image {
        return json!({"type": "function_call_output", "call_id": call_id, "output": text});
    }
    let mut parts = Vec::new();
    if !text.is_empty() {
        parts.push(json!({"type": "input_text", "text": text}));
    }
    parts.extend(
        message
            .parts
            .iter()
            .filter(|p| matches!(p, Part::Image { .. }))
            .map(input_part),
    );
    json!({"type": "function_call_output", "call_id": call_id, "output": parts})
}

fn input_part(part: &Part) -> Value {
    match part {
        Part::Text { text, .. } => json!({"type": "input_text", "text": text}),
        Part::Image { source, .. } => {
            let url = match source {
                ImageSource::Url(url) => url.clone(),
                ImageSource::Base64 { media_type, data } => format!("data:{media_type};base64,{data}"),
            };
            json!({"type": "input_image", "image_url": url})
        }
    }
}

fn joined_text(parts: &[Part]) -> String {
    let texts: Vec<&str> = parts
        .iter()
        .filter_map(|p| match p {
            Part::Text { text, .. } => Some(text.as_str()),
            Part::Image { .. } => None,
        })
        .collect();
    texts.concat()
}
