//! The hub request: OpenAI chat's shape plus what chat cannot say (reasoning
//! text and signature on assistant turns, `cache_control` on parts,
//! `is_error` and images on tool results, freeform tools). Every client
//! format is parsed into it and every upstream format is built from it.

/// A request in the hub's form.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Request {
    /// The model name to send upstream.
    pub model: String,
    /// The conversation in order. System turns stay where the client put
    /// them; each egress decides where its format can take them.
    pub messages: Vec<Message>,
    pub tools: Vec<Tool>,
    pub tool_choice: Option<ToolChoice>,
    pub parallel_tool_calls: Option<bool>,
    /// The output token limit (Anthropic's required `max_tokens`, chat's
    /// `max_tokens`/`max_completion_tokens`, Responses' `max_output_tokens`).
    pub max_tokens: Option<u64>,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub stop: Vec<String>,
    pub stream: bool,
    /// The end user, for the provider's abuse tracking.
    pub user: Option<String>,
    pub reasoning: Option<ReasoningConfig>,
    /// A JSON schema the answer must follow: `{"name", "schema", "strict"}`.
    pub json_schema: Option<JsonSchema>,
}

/// Who said a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    System,
    User,
    Assistant,
    /// A tool's result, answering the call `tool_call_id`.
    Tool,
}

/// One turn.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub role: Role,
    pub parts: Vec<Part>,
    /// Assistant turns: the reasoning that preceded the answer.
    pub reasoning: Vec<Reasoning>,
    /// Assistant turns: the calls the model made.
    pub tool_calls: Vec<ToolCall>,
    /// Tool turns: the call this answers.
    pub tool_call_id: Option<String>,
    /// Tool turns: the tool failed (Anthropic `is_error`).
    pub is_error: bool,
}

impl Message {
    /// A message of one role with these parts and nothing else.
    pub fn new(role: Role, parts: Vec<Part>) -> Self {
        Message {
            role,
            parts,
            reasoning: Vec::new(),
            tool_calls: Vec::new(),
            tool_call_id: None,
            is_error: false,
        }
    }
}

/// A piece of a message's content.
#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    Text {
        text: String,
        cache: Option<CacheControl>,
    },
    Image {
        source: ImageSource,
        cache: Option<CacheControl>,
    },
}

/// Where an image's bytes are.
#[derive(Debug, Clone, PartialEq)]
pub enum ImageSource {
    /// An `http(s)` URL the provider fetches.
    Url(String),
    /// Inline bytes.
    Base64 { media_type: String, data: String },
}

/// An Anthropic prompt-cache breakpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct CacheControl {
    /// `"5m"` or `"1h"`; sent only to providers that take it.
    pub ttl: Option<String>,
}

/// Reasoning on an assistant turn.
#[derive(Debug, Clone, PartialEq)]
pub enum Reasoning {
    /// Readable reasoning, with the provider's signature when it gave one.
    Text { text: String, signature: Option<String> },
    /// Encrypted reasoning (Anthropic `redacted_thinking`).
    Redacted { data: String },
}

/// A call the model made.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    /// The arguments as JSON text (for a freeform tool: the raw input text).
    pub arguments: String,
    pub kind: ToolKind,
}

/// A tool the model may call.
#[derive(Debug, Clone, PartialEq)]
pub struct Tool {
    pub name: String,
    pub description: Option<String>,
    /// The JSON schema of the arguments (for a freeform tool: its grammar, if any, goes in `description`).
    pub parameters: serde_json::Value,
    pub kind: ToolKind,
    pub cache: Option<CacheControl>,
}

/// How a tool takes its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToolKind {
    /// JSON arguments matching a schema.
    Function,
    /// One free text input (Responses `custom` tools such as `apply_patch`).
    Custom,
}

/// Which tools the model must or may use.
#[derive(Debug, Clone, PartialEq)]
pub enum ToolChoice {
    Auto,
    None,
    Required,
    Tool(String),
}

/// How hard the model should think.
#[derive(Debug, Clone, PartialEq)]
pub struct ReasoningConfig {
    /// `minimal`, `low`, `medium`, `high` (OpenAI's scale).
    pub effort: Option<String>,
    /// Anthropic's explicit thinking budget.
    pub budget_tokens: Option<u64>,
}

impl ReasoningConfig {
    /// The effort to ask an OpenAI-style provider for: the stated one, else
    /// the bucket of the thinking budget (LiteLLM's 1024/2048/4096 steps).
    pub fn effort_or_bucket(&self) -> Option<String> {
        if let Some(effort) = &self.effort {
            return Some(effort.clone());
        }
        let effort = match self.budget_tokens? {
            0..1024 => "minimal",
            1024..2048 => "low",
            2048..4096 => "medium",
            _ => "high",
        };
        Some(effort.to_owned())
    }

    /// The thinking budget to ask Anthropic for: the stated one, else the
    /// effort's step (low 1024 … max 16384).
    pub fn budget_or_step(&self) -> Option<u64> {
        if let Some(budget) = self.budget_tokens {
            return Some(budget);
        }
        match self.effort.as_deref()? {
            "minimal" | "none" => None,
            "low" => Some(1024),
            "medium" => Some(2048),
            "high" => Some(4096),
            "xhigh" => Some(8192),
            _ => Some(16384),
        }
    }
}

impl Request {
    /// A rough count of the prompt's tokens (four bytes of text to a token,
    /// images at a flat rate, plus 15 % to err high): what an answer states
    /// as input before the upstream has said.
    pub fn estimate_tokens(&self) -> u64 {
        let mut bytes = 0usize;
        let mut images = 0u64;
        for message in &self.messages {
            for part in &message.parts {
                match part {
                    Part::Text { text, .. } => bytes += text.len(),
                    Part::Image { .. } => images += 1,
                }
            }
            for reasoning in &message.reasoning {
                if let Reasoning::Text { text, .. } = reasoning {
                    bytes += text.len();
                }
            }
            for call in &message.tool_calls {
                bytes += call.name.len() + call.arguments.len();
            }
            bytes += 16;
        }
        for tool in &self.tools {
            bytes += tool.name.len() + tool.description.as_ref().map_or(0, String::len);
            bytes += tool.parameters.to_string().len();
        }
        let tokens = u64::try_from(bytes / 4).unwrap_or(u64::MAX);
        (tokens.saturating_add(images * 1600)).saturating_mul(115) / 100
    }
}

/// A structured-output schema.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonSchema {
    pub name: String,
    pub schema: serde_json::Value,
    pub strict: Option<bool>,
}
