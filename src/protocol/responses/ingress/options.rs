//! The request's tools and options: functions as they are, namespaces
//! flattened, freeform tools as one-string functions, sampling settings.

use serde_json::{json, Map, Value};

use super::{invalid, required, string, Ingress, IngressError};
use crate::protocol::hub::{JsonSchema, ReasoningConfig, Tool, ToolChoice, ToolKind};
use crate::protocol::responses::items::{flat_name, NAMESPACE_SEPARATOR};

/// Tool types only OpenAI runs: dropped, listed for the warning header.
const BUILT_IN_TOOLS: &[&str] = &[
    "web_search",
    "web_search_preview",
    "file_search",
    "computer_use_preview",
    "computer_use",
    "code_interpreter",
    "image_generation",
    "mcp",
    "local_shell",
    "tool_search",
];

/// `tools`: functions as they are, namespaces flattened, freeform tools as
/// one-string-argument functions, built-ins dropped.
pub(super) fn tools(root: &Map<String, Value>, ingress: &mut Ingress) -> Result<(), IngressError> {
    let Some(list) = root.get("tools").and_then(Value::as_array) else {
        return Ok(());
    };
    for (i, tool) in list.iter().enumerate() {
        let at = format!("tools[{i}]");
        let Some(obj) = tool.as_object() else {
            return Err(invalid(at, "must be an object"));
        };
        match obj.get("type").and_then(Value::as_str).unwrap_or_default() {
            "function" => ingress.request.tools.push(function(obj, None, &at)?),
            "namespace" => {
                let ns = required(obj, "name", &at)?;
                let inner = obj
                    .get("tools")
                    .and_then(Value::as_array)
                    .map(Vec::as_slice)
                    .unwrap_or_default();
                for (j, tool) in inner.iter().enumerate() {
                    let at = format!("{at}.tools[{j}]");
                    let Some(obj) = tool.as_object() else {
                        return Err(invalid(at, "must be an object"));
                    };
                    let tool = function(obj, Some(&ns), &at)?;
                    let client = format!("{ns}{NAMESPACE_SEPARATOR}{}", required(obj, "name", &at)?);
                    ingress.tool_names.push((tool.name.clone(), client));
                    ingress.request.tools.push(tool);
                }
            }
            "custom" => {
                let tool = custom(obj, &at)?;
                ingress.custom_tools.push(tool.name.clone());
                ingress.request.tools.push(tool);
            }
            other if BUILT_IN_TOOLS.contains(&other) => ingress.dropped_tools.push(other.to_owned()),
            other => ingress.dropped_tools.push(if other.is_empty() {
                "unknown".to_owned()
            } else {
                other.to_owned()
            }),
        }
    }
    Ok(())
}

fn function(obj: &Map<String, Value>, namespace: Option<&str>, at: &str) -> Result<Tool, IngressError> {
    let name = required(obj, "name", at)?;
    Ok(Tool {
        name: namespace.map_or_else(|| name.clone(), |ns| flat_name(ns, &name)),
        description: string(obj, "description")?,
        parameters: obj
            .get("parameters")
            .cloned()
            .unwrap_or_else(|| json!({"type": "object", "properties": {}})),
        kind: ToolKind::Function,
        cache: None,
    })
}

/// A freeform tool as a function of one string `input`; its grammar goes
/// in the description so the model still sees what the input must be.
fn custom(obj: &Map<String, Value>, at: &str) -> Result<Tool, IngressError> {
    let mut description = string(obj, "description")?.unwrap_or_default();
    if let Some(format) = obj.get("format").and_then(Value::as_object) {
        if let Some(definition) = format.get("definition").and_then(Value::as_str) {
            let syntax = format.get("syntax").and_then(Value::as_str).unwrap_or("grammar");
            description.push_str(&format!(
                "\n\nPass the whole input as the string argument `input`. It must follow this {syntax} grammar:\n{definition}"
            ));
        }
    }
    Ok(Tool {
        name: required(obj, "name", at)?,
        description: Some(description),
        parameters: json!({"type": "object", "properties": {"input": {"type": "string"}}, "required": ["input"]}),
        kind: ToolKind::Custom,
        cache: None,
    })
}

/// The sampling and output options.
pub(super) fn options(root: &Map<String, Value>, ingress: &mut Ingress) -> Result<(), IngressError> {
    let request = &mut ingress.request;
    request.tool_choice = match root.get("tool_choice") {
        Some(Value::String(s)) => match s.as_str() {
            "auto" => Some(ToolChoice::Auto),
            "none" => Some(ToolChoice::None),
            "required" => Some(ToolChoice::Required),
            _ => return Err(invalid("tool_choice", "must be auto, none, required or a tool")),
        },
        Some(Value::Object(obj)) => match obj.get("type").and_then(Value::as_str) {
            Some("function" | "custom") => Some(ToolChoice::Tool(required(obj, "name", "tool_choice")?)),
            // Hosted tools and `allowed_tools` have no chat spelling.
            _ => None,
        },
        _ => None,
    };
    request.parallel_tool_calls = root.get("parallel_tool_calls").and_then(Value::as_bool);
    request.max_tokens = root.get("max_output_tokens").and_then(Value::as_u64);
    request.temperature = root.get("temperature").and_then(Value::as_f64);
    request.top_p = root.get("top_p").and_then(Value::as_f64);
    request.user = string(root, "user")?;
    let effort = root
        .get("reasoning")
        .and_then(|r| r.get("effort"))
        .and_then(Value::as_str);
    if let Some(effort) = effort.filter(|e| *e != "none") {
        request.reasoning = Some(ReasoningConfig {
            effort: Some(effort.to_owned()),
            budget_tokens: None,
        });
    }
    let format = root.get("text").and_then(|t| t.get("format"));
    if let Some(format) = format.filter(|f| f.get("type").and_then(Value::as_str) == Some("json_schema")) {
        request.json_schema = Some(JsonSchema {
            name: format
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("response")
                .to_owned(),
            schema: format.get("schema").cloned().unwrap_or(Value::Null),
            strict: format.get("strict").and_then(Value::as_bool),
        });
    }
    ingress.store_ignored = root.get("store").and_then(Value::as_bool) == Some(true);
    ingress.prompt_cache_key = string(root, "prompt_cache_key")?;
    Ok(())
}
