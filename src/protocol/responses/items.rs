//! The Responses output items the encoder builds (message, reasoning,
//! function and custom tool calls) and the usage object.

use serde_json::{json, Value};

use crate::protocol::events::Usage;
use crate::protocol::Context;

/// Separates a namespace from a tool's name in the client names this format
/// keeps in `Context::tool_names`. Responses tool names cannot contain it.
pub const NAMESPACE_SEPARATOR: char = '.';

/// The upstream spelling of a namespaced tool (`<ns>__<name>`, as LiteLLM
/// flattens them).
pub fn flat_name(namespace: &str, name: &str) -> String {
    format!("{namespace}__{name}")
}

/// One tool call of the answer, as the client will see it.
pub struct ToolItem {
    /// The hub's index of the call.
    pub index: usize,
    /// The item id (`fc_…` / `ctc_…`), set when the item is opened.
    pub item_id: String,
    pub call_id: String,
    /// The client's name of the tool (namespace split off).
    pub name: String,
    pub namespace: Option<String>,
    /// A freeform tool: answered as `custom_tool_call` with its input
    /// unwrapped from the `{"input": …}` the upstream was asked for.
    pub custom: bool,
    /// The upstream's arguments text so far.
    pub arguments: String,
}

impl ToolItem {
    /// A call of the upstream tool `upstream_name`, mapped back to the
    /// client's name through the request's context.
    pub fn new(index: usize, call_id: String, upstream_name: &str, ctx: &Context) -> Self {
        let client = ctx
            .tool_names
            .iter()
            .find(|(upstream, _)| upstream == upstream_name)
            .map_or(upstream_name, |(_, client)| client.as_str());
        let custom = ctx.custom_tools.iter().any(|c| c == client);
        let (namespace, name) = match client.split_once(NAMESPACE_SEPARATOR) {
            Some((ns, name)) => (Some(ns.to_owned()), name.to_owned()),
            None => (None, client.to_owned()),
        };
        ToolItem {
            index,
            item_id: String::new(),
            call_id,
            name,
            namespace,
            custom,
            arguments: String::new(),
        }
    }

    /// The item id's prefix for this kind of call.
    pub fn prefix(&self) -> &'static str {
        if self.custom {
            "ctc"
        } else {
            "fc"
        }
    }

    /// The arguments as the client gets them: a custom tool's input
    /// unwrapped, a function's arguments as the upstream sent them.
    pub fn client_arguments(&self) -> String {
        if self.custom {
            unwrap_input(&self.arguments)
        } else {
            self.arguments.clone()
        }
    }

    /// The item as `output_item.added` shows it.
    pub fn in_progress(&self) -> Value {
        self.item("in_progress", String::new())
    }

    /// The complete item, as `output_item.done` and `output` carry it.
    pub fn completed(&self) -> Value {
        self.item("completed", self.client_arguments())
    }

    fn item(&self, status: &str, arguments: String) -> Value {
        let mut item = if self.custom {
            json!({"type": "custom_tool_call", "id": self.item_id, "call_id": self.call_id,
                   "name": self.name, "input": arguments, "status": status})
        } else {
            json!({"type": "function_call", "id": self.item_id, "call_id": self.call_id,
                   "name": self.name, "arguments": arguments, "status": status})
        };
        if let (Some(ns), Some(map)) = (&self.namespace, item.as_object_mut()) {
            map.insert("namespace".to_owned(), json!(ns));
        }
        item
    }
}

/// A custom tool's input from the `{"input": "…"}` the upstream model was
/// asked to write. A model that wrote something else (a bare string, raw
/// text) gets it passed on as it is rather than lost.
pub fn unwrap_input(arguments: &str) -> String {
    match serde_json::from_str::<Value>(arguments) {
        Ok(Value::Object(map)) => match map.get("input") {
            Some(Value::String(input)) => input.clone(),
            _ => arguments.to_owned(),
        },
        Ok(Value::String(input)) => input,
        _ => arguments.to_owned(),
    }
}

/// A complete assistant message item.
pub fn message(id: &str, text: &str) -> Value {
    json!({"type": "message", "id": id, "role": "assistant", "status": "completed",
           "content": [{"type": "output_text", "text": text, "annotations": []}]})
}

/// A complete reasoning item: the upstream's reasoning as one summary.
pub fn reasoning(id: &str, text: &str) -> Value {
    json!({"type": "reasoning", "id": id, "summary": [{"type": "summary_text", "text": text}]})
}

/// Responses usage: integer counts, cached and reasoning details included.
pub fn usage(u: &Usage) -> Value {
    json!({
        "input_tokens": u.input,
        "input_tokens_details": {"cached_tokens": u.cache_read},
        "output_tokens": u.output,
        "output_tokens_details": {"reasoning_tokens": u.reasoning},
        "total_tokens": u.input + u.output,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn custom_input_is_unwrapped_or_kept() {
        assert_eq!(unwrap_input(r#"{"input":"*** Begin Patch\n"}"#), "*** Begin Patch\n");
        assert_eq!(unwrap_input(r#""raw""#), "raw");
        assert_eq!(unwrap_input("*** Begin Patch"), "*** Begin Patch");
        assert_eq!(unwrap_input(r#"{"patch":"x"}"#), r#"{"patch":"x"}"#);
    }
}
