//! A Responses request (as Codex sends it) → the hub request, with what
//! could not be carried reported rather than silently lost.

mod options;

use serde_json::{Map, Value};

use super::items::flat_name;
use crate::protocol::hub::{ImageSource, Message, Part, Reasoning, Request, Role, ToolCall, ToolKind};
use crate::protocol::ProtocolError;

/// A translated request and the facts the answer and the wiring need.
#[derive(Debug, Clone, Default)]
pub struct Ingress {
    pub request: Request,
    /// (upstream name, client name) for flattened namespace tools; the
    /// client name is `<namespace>.<name>`.
    pub tool_names: Vec<(String, String)>,
    /// The client's freeform tools, answered as `custom_tool_call`.
    pub custom_tools: Vec<String>,
    /// Built-in tools no chat provider has (`web_search`, …), dropped: the
    /// wiring says so in a warning header.
    pub dropped_tools: Vec<String>,
    /// Input item types that were dropped (`local_shell_call`, …).
    pub dropped_items: Vec<String>,
    /// The client asked for `store: true`, which a stateless gateway ignores.
    pub store_ignored: bool,
    /// Codex's `prompt_cache_key` (its thread id), for upstreams that use it.
    pub prompt_cache_key: Option<String>,
}

/// Why a Responses request cannot be translated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IngressError {
    /// The request refers to state the gateway does not keep
    /// (`previous_response_id`, `item_reference`): the client must resend
    /// the full input.
    Stateful { field: &'static str },
    /// The body is not a Responses request: `field` names what is wrong.
    Invalid { field: String, message: String },
}

/// Why a stateful request is refused, and what to do instead.
const STATELESS: &str =
    "not supported: this gateway is stateless and keeps no responses; resend the full input with `store: false`";

impl std::fmt::Display for IngressError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IngressError::Stateful { field } => write!(f, "`{field}`: {STATELESS}"),
            IngressError::Invalid { field, message } => write!(f, "`{field}`: {message}"),
        }
    }
}

impl std::error::Error for IngressError {}

impl From<IngressError> for ProtocolError {
    /// Both are the client's to fix: a 400 naming the field.
    fn from(err: IngressError) -> Self {
        match err {
            IngressError::Stateful { field } => ProtocolError::invalid(field, STATELESS),
            IngressError::Invalid { field, message } => ProtocolError::invalid(field, message),
        }
    }
}

impl Ingress {
    /// What the client asked for that the upstream will not get, one line
    /// each, for the wiring's warning header and log.
    pub fn notes(&self) -> Vec<String> {
        let mut notes = Vec::new();
        if !self.dropped_tools.is_empty() {
            notes.push(format!("built-in tools dropped: {}", self.dropped_tools.join(", ")));
        }
        if !self.dropped_items.is_empty() {
            notes.push(format!("input items dropped: {}", self.dropped_items.join(", ")));
        }
        if self.store_ignored {
            notes.push("store: true ignored: this gateway keeps no responses".to_owned());
        }
        notes
    }

    /// The tool-name map for the answer: `upstream` is what the egress
    /// sent (names it shortened mapped to the hub's), composed with this
    /// format's own (flattened namespaces), so one lookup gives the client's.
    pub fn compose_names(&self, upstream: Vec<(String, String)>) -> Vec<(String, String)> {
        let mut names: Vec<(String, String)> = upstream
            .into_iter()
            .map(|(sent, hub)| {
                let client = self
                    .tool_names
                    .iter()
                    .find(|(flat, _)| *flat == hub)
                    .map_or(hub, |(_, c)| c.clone());
                (sent, client)
            })
            .collect();
        for (flat, client) in &self.tool_names {
            if !names.iter().any(|(sent, _)| sent == flat) {
                names.push((flat.clone(), client.clone()));
            }
        }
        names
    }
}

fn invalid(field: impl Into<String>, message: &str) -> IngressError {
    IngressError::Invalid {
        field: field.into(),
        message: message.to_owned(),
    }
}

/// Parses a Responses request body into the hub's form.
pub fn from_responses(body: &[u8]) -> Result<Ingress, IngressError> {
    let root: Map<String, Value> = serde_json::from_slice(body).map_err(|e| invalid("body", &e.to_string()))?;
    if root.get("previous_response_id").is_some_and(|v| !v.is_null()) {
        return Err(IngressError::Stateful {
            field: "previous_response_id",
        });
    }
    let mut ingress = Ingress::default();
    let request = &mut ingress.request;
    request.model = string(&root, "model")?.unwrap_or_default();
    request.stream = root.get("stream").and_then(Value::as_bool).unwrap_or(false);
    if let Some(text) = string(&root, "instructions")? {
        request.messages.push(Message::new(Role::System, vec![text_part(text)]));
    }
    let mut input = Input::default();
    match root.get("input") {
        None | Some(Value::Null) => {}
        Some(Value::String(text)) => input
            .messages
            .push(Message::new(Role::User, vec![text_part(text.clone())])),
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                input.item(item, &format!("input[{i}]"), &mut ingress.dropped_items)?;
            }
        }
        Some(_) => return Err(invalid("input", "must be a string or an array of items")),
    }
    input.flush_images();
    ingress.request.messages.extend(input.messages);
    options::tools(&root, &mut ingress)?;
    options::options(&root, &mut ingress)?;
    Ok(ingress)
}

/// The conversation being built, with what waits for its place.
#[derive(Default)]
struct Input {
    messages: Vec<Message>,
    /// Reasoning items wait for the assistant turn they preceded.
    reasoning: Vec<Reasoning>,
    /// Images from tool outputs wait until the run of tool messages ends:
    /// chat allows no other message between a call's results.
    images: Vec<Part>,
}

impl Input {
    fn item(&mut self, item: &Value, at: &str, dropped: &mut Vec<String>) -> Result<(), IngressError> {
        let Some(obj) = item.as_object() else {
            return Err(invalid(at, "must be an object"));
        };
        // An item without `type` but with a `role` is a message (the
        // "easy input message" form).
        let kind = match obj.get("type").and_then(Value::as_str) {
            Some(kind) => kind,
            None if obj.contains_key("role") => "message",
            None => return Err(invalid(format!("{at}.type"), "is required")),
        };
        if !matches!(kind, "function_call_output" | "custom_tool_call_output") {
            self.flush_images();
        }
        match kind {
            "message" => self.message(obj, at),
            "function_call" => {
                let name = required(obj, "name", at)?;
                let name = match obj.get("namespace").and_then(Value::as_str) {
                    Some(ns) => flat_name(ns, &name),
                    None => name,
                };
                let arguments = string(obj, "arguments")?.unwrap_or_default();
                self.call(ToolCall {
                    id: required(obj, "call_id", at)?,
                    name,
                    arguments,
                    kind: ToolKind::Function,
                });
                Ok(())
            }
            "custom_tool_call" => {
                let call = ToolCall {
                    id: required(obj, "call_id", at)?,
                    name: required(obj, "name", at)?,
                    arguments: string(obj, "input")?.unwrap_or_default(),
                    kind: ToolKind::Custom,
                };
                self.call(call);
                Ok(())
            }
            "function_call_output" | "custom_tool_call_output" => self.output(obj, at),
            "reasoning" => {
                self.reasoning(obj);
                Ok(())
            }
            "item_reference" => Err(IngressError::Stateful {
                field: "item_reference",
            }),
            other => {
                dropped.push(other.to_owned());
                Ok(())
            }
        }
    }

    fn message(&mut self, obj: &Map<String, Value>, at: &str) -> Result<(), IngressError> {
        let role = match obj.get("role").and_then(Value::as_str) {
            Some("developer" | "system") => Role::System,
            Some("user") => Role::User,
            Some("assistant") => Role::Assistant,
            _ => {
                return Err(invalid(
                    format!("{at}.role"),
                    "must be developer, system, user or assistant",
                ))
            }
        };
        let parts = content(obj.get("content"), &format!("{at}.content"))?;
        if role != Role::Assistant {
            self.messages.push(Message::new(role, parts));
            return Ok(());
        }
        let mut message = Message::new(Role::Assistant, parts);
        message.reasoning = std::mem::take(&mut self.reasoning);
        self.messages.push(message);
        Ok(())
    }

    /// A call joins the assistant turn before it (its text and the calls
    /// beside it), so consecutive calls make one turn.
    fn call(&mut self, call: ToolCall) {
        let pending = std::mem::take(&mut self.reasoning);
        match self.messages.last_mut() {
            Some(last) if last.role == Role::Assistant => {
                last.reasoning.extend(pending);
                last.tool_calls.push(call);
            }
            _ => {
                let mut message = Message::new(Role::Assistant, Vec::new());
                message.reasoning = pending;
                message.tool_calls.push(call);
                self.messages.push(message);
            }
        }
    }

    fn output(&mut self, obj: &Map<String, Value>, at: &str) -> Result<(), IngressError> {
        let call_id = required(obj, "call_id", at)?;
        let mut message = Message::new(Role::Tool, Vec::new());
        message.tool_call_id = Some(call_id);
        match obj.get("output") {
            Some(Value::String(text)) => message.parts.push(text_part(text.clone())),
            Some(Value::Array(_)) => {
                for part in content(obj.get("output"), &format!("{at}.output"))? {
                    match part {
                        Part::Image { .. } => self.images.push(part),
                        Part::Text { .. } => message.parts.push(part),
                    }
                }
            }
            _ => return Err(invalid(format!("{at}.output"), "must be a string or an array of parts")),
        }
        self.messages.push(message);
        Ok(())
    }

    fn reasoning(&mut self, obj: &Map<String, Value>) {
        // `encrypted_content` is meaningful only to OpenAI: dropped.
        let texts = ["summary", "content"]
            .iter()
            .filter_map(|key| obj.get(*key).and_then(Value::as_array))
            .flatten()
            .filter_map(|part| part.get("text").and_then(Value::as_str))
            .filter(|text| !text.is_empty());
        let text = texts.collect::<Vec<_>>().join("\n\n");
        if !text.is_empty() {
            self.reasoning.push(Reasoning::Text { text, signature: None });
        }
    }

    fn flush_images(&mut self) {
        if !self.images.is_empty() {
            let images = std::mem::take(&mut self.images);
            self.messages.push(Message::new(Role::User, images));
        }
    }
}

/// A message's content: a string, or parts (`input_text`, `output_text`,
/// `refusal`, `input_image`).
fn content(value: Option<&Value>, at: &str) -> Result<Vec<Part>, IngressError> {
    let parts = match value {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::String(text)) => return Ok(vec![text_part(text.clone())]),
        Some(Value::Array(parts)) => parts,
        Some(_) => return Err(invalid(at, "must be a string or an array of parts")),
    };
    let mut out = Vec::with_capacity(parts.len());
    for (i, part) in parts.iter().enumerate() {
        let at = format!("{at}[{i}]");
        let kind = part.get("type").and_then(Value::as_str).unwrap_or_default();
        let text_key = match kind {
            "input_text" | "output_text" | "text" => "text",
            "refusal" => "refusal",
            "input_image" => {
                out.push(image(part, &at)?);
                continue;
            }
            "input_file" => return Err(invalid(at, "files can be sent only to OpenAI upstreams")),
            _ => return Err(invalid(format!("{at}.type"), "is not a known content part type")),
        };
        match part.get(text_key).and_then(Value::as_str) {
            Some(text) => out.push(text_part(text.to_owned())),
            None => return Err(invalid(format!("{at}.{text_key}"), "must be a string")),
        }
    }
    Ok(out)
}

fn image(part: &Value, at: &str) -> Result<Part, IngressError> {
    let Some(url) = part.get("image_url").and_then(Value::as_str) else {
        return Err(invalid(
            format!("{at}.image_url"),
            "is required (file ids work only with OpenAI upstreams)",
        ));
    };
    let source = match url.strip_prefix("data:").and_then(|rest| rest.split_once(";base64,")) {
        Some((media_type, data)) => ImageSource::Base64 {
            media_type: media_type.to_owned(),
            data: data.to_owned(),
        },
        None => ImageSource::Url(url.to_owned()),
    };
    Ok(Part::Image { source, cache: None })
}

fn text_part(text: String) -> Part {
    Part::Text { text, cache: None }
}

fn string(obj: &Map<String, Value>, key: &str) -> Result<Option<String>, IngressError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(invalid(key, "must be a string")),
    }
}

fn required(obj: &Map<String, Value>, key: &str, at: &str) -> Result<String, IngressError> {
    match obj.get(key) {
        Some(Value::String(s)) => Ok(s.clone()),
        _ => Err(invalid(format!("{at}.{key}"), "must be a string")),
    }
}
