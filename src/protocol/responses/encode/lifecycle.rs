//! Opening and closing the encoder's output items: the `added`, part and
//! `done` events around each item, and the buffered calls at the end.

use serde_json::{json, Value};

use super::{Encoder, Open};
use crate::protocol::responses::items;

impl Encoder {
    pub(super) fn open_reasoning(&mut self, out: &mut Vec<u8>) {
        let id = format!("rs_{}_{}", self.suffix(), self.output.len());
        let index = json!(self.output.len());
        let item = json!({"type": "reasoning", "id": id, "summary": []});
        self.frame(
            out,
            "response.output_item.added",
            &[("output_index", &index), ("item", &item)],
        );
        let part = json!({"type": "summary_text", "text": ""});
        let fields = [
            ("item_id", &json!(id)),
            ("output_index", &index),
            ("summary_index", &json!(0)),
            ("part", &part),
        ];
        self.frame(out, "response.reasoning_summary_part.added", &fields);
        self.open = Open::Reasoning {
            id,
            text: String::new(),
        };
    }

    pub(super) fn open_message(&mut self, out: &mut Vec<u8>) {
        let id = format!("msg_{}_{}", self.suffix(), self.output.len());
        let index = json!(self.output.len());
        let item = json!({"type": "message", "id": id, "role": "assistant", "status": "in_progress", "content": []});
        self.frame(
            out,
            "response.output_item.added",
            &[("output_index", &index), ("item", &item)],
        );
        let part = json!({"type": "output_text", "text": "", "annotations": []});
        let fields = [
            ("item_id", &json!(id)),
            ("output_index", &index),
            ("content_index", &json!(0)),
            ("part", &part),
        ];
        self.frame(out, "response.content_part.added", &fields);
        self.open = Open::Message {
            id,
            text: String::new(),
        };
    }

    /// Closes the open item: its `.done` events, then `output_item.done`
    /// with the whole item.
    pub(super) fn close_open(&mut self, out: &mut Vec<u8>) {
        match std::mem::replace(&mut self.open, Open::None) {
            Open::None => {}
            Open::Reasoning { id, text } => self.finish_reasoning(&id, &text, out),
            Open::Message { id, text } => self.finish_message(&id, &text, out),
            Open::Tool(at) => self.finish_tool(at, out),
        }
    }

    /// Closes everything at the end of a finished answer: the open item,
    /// then the buffered calls and any late reasoning and text.
    pub(super) fn close_all(&mut self, out: &mut Vec<u8>) {
        let streamed = match self.open {
            Open::Tool(at) => Some(at),
            _ => None,
        };
        self.close_open(out);
        for at in 0..self.tools.len() {
            if Some(at) == streamed {
                continue;
            }
            let index = self.output.len();
            let suffix = self.suffix().to_owned();
            let Some(tool) = self.tools.get_mut(at) else {
                continue;
            };
            tool.item_id = format!("{}_{suffix}_{index}", tool.prefix());
            let (added, item_id, whole) = (tool.in_progress(), tool.item_id.clone(), tool.client_arguments());
            let kind = if tool.custom {
                "response.custom_tool_call_input.delta"
            } else {
                "response.function_call_arguments.delta"
            };
            let fields = [("output_index", &json!(index)), ("item", &added)];
            self.frame(out, "response.output_item.added", &fields);
            if !whole.is_empty() {
                self.delta(out, kind, &item_id, index, "", &whole);
            }
            self.finish_tool(at, out);
        }
        let reasoning = std::mem::take(&mut self.late_reasoning);
        if !reasoning.is_empty() {
            self.stream_reasoning(&reasoning, out);
            self.close_open(out);
        }
        let text = std::mem::take(&mut self.late_text);
        if !text.is_empty() {
            self.stream_text(&text, out);
            self.close_open(out);
        }
    }

    fn finish_reasoning(&mut self, id: &str, text: &str, out: &mut Vec<u8>) {
        let index = json!(self.output.len());
        let base = [
            ("item_id", &json!(id)),
            ("output_index", &index),
            ("summary_index", &json!(0)),
        ];
        let whole = json!(text);
        self.frame(
            out,
            "response.reasoning_summary_text.done",
            &[base[0], base[1], base[2], ("text", &whole)],
        );
        let part = json!({"type": "summary_text", "text": text});
        self.frame(
            out,
            "response.reasoning_summary_part.done",
            &[base[0], base[1], base[2], ("part", &part)],
        );
        let item = items::reasoning(id, text);
        self.item_done(item, out);
    }

    fn finish_message(&mut self, id: &str, text: &str, out: &mut Vec<u8>) {
        let index = json!(self.output.len());
        let base = [
            ("item_id", &json!(id)),
            ("output_index", &index),
            ("content_index", &json!(0)),
        ];
        let whole = json!(text);
        self.frame(
            out,
            "response.output_text.done",
            &[base[0], base[1], base[2], ("text", &whole)],
        );
        let part = json!({"type": "output_text", "text": text, "annotations": []});
        self.frame(
            out,
            "response.content_part.done",
            &[base[0], base[1], base[2], ("part", &part)],
        );
        let item = items::message(id, text);
        self.item_done(item, out);
    }

    pub(super) fn finish_tool(&mut self, at: usize, out: &mut Vec<u8>) {
        let Some(tool) = self.tools.get_mut(at) else {
            return;
        };
        // A call without arguments still gets a JSON object (R1).
        if tool.arguments.trim().is_empty() && !tool.custom {
            tool.arguments.push_str("{}");
            let item_id = tool.item_id.clone();
            let index = self.output.len();
            self.delta(out, "response.function_call_arguments.delta", &item_id, index, "", "{}");
        }
        let Some(tool) = self.tools.get(at) else {
            return;
        };
        let index = json!(self.output.len());
        let item_id = json!(tool.item_id);
        let whole = json!(tool.client_arguments());
        let (kind, key) = if tool.custom {
            ("response.custom_tool_call_input.done", "input")
        } else {
            ("response.function_call_arguments.done", "arguments")
        };
        let item = tool.completed();
        self.frame(
            out,
            kind,
            &[("item_id", &item_id), ("output_index", &index), (key, &whole)],
        );
        self.item_done(item, out);
    }

    fn item_done(&mut self, item: Value, out: &mut Vec<u8>) {
        let index = json!(self.output.len());
        self.frame(
            out,
            "response.output_item.done",
            &[("output_index", &index), ("item", &item)],
        );
        self.output.push(item);
    }
}
