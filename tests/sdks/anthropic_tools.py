"""The anthropic SDK's tool round trip: Read is asked for, its result sent back
under the tool_use id, then the final text. Prints one JSON line for the test.

usage: anthropic_tools.py BASE_URL KEY MODEL stream|whole
"""
import json
import sys

import anthropic

base_url, key, model, mode = sys.argv[1:5]
client = anthropic.Anthropic(base_url=base_url, api_key=key, max_retries=0, timeout=20)
tools = [{
    "name": "Read",
    "description": "Reads a file.",
    "input_schema": {"type": "object", "properties": {"file_path": {"type": "string"}}, "required": ["file_path"]},
}]


def ask(messages):
    """One turn: the final message, and the stream's event types and text deltas."""
    if mode == "whole":
        return client.messages.create(model=model, max_tokens=256, messages=messages, tools=tools), [], []
    kinds, deltas = [], []
    with client.messages.stream(model=model, max_tokens=256, messages=messages, tools=tools) as stream:
        for event in stream:
            kinds.append(event.type)
            if event.type == "text":
                deltas.append(event.text)
        return stream.get_final_message(), kinds, deltas


messages = [{"role": "user", "content": "Read /project/secret.txt"}]
first, first_events, _ = ask(messages)
call = next(block for block in first.content if block.type == "tool_use")
# As Anthropic's docs show it: the answer's blocks go back as they came.
messages.append({"role": "assistant", "content": first.content})
messages.append({"role": "user", "content": [
    {"type": "tool_result", "tool_use_id": call.id, "content": "the secret word is UMBER-3390"},
]})
second, second_events, deltas = ask(messages)
print(json.dumps({
    "first": {"stop_reason": first.stop_reason, "id": call.id, "name": call.name, "input": call.input,
              "model": first.model, "events": first_events},
    "second": {"stop_reason": second.stop_reason, "model": second.model, "events": second_events, "deltas": deltas,
               "text": "".join(block.text for block in second.content if block.type == "text"),
               "usage": {"input_tokens": second.usage.input_tokens, "output_tokens": second.usage.output_tokens}},
}))
