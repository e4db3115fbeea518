"""The openai SDK's `responses.create` function-call round trip: a
function_call, its function_call_output under the same call_id, then the
final text. Prints one JSON line for the test.

usage: responses_tools.py BASE_URL KEY MODEL stream|whole
"""
import json
import sys

import openai

base_url, key, model, mode = sys.argv[1:5]
client = openai.OpenAI(base_url=base_url, api_key=key, max_retries=0, timeout=20)
tools = [{
    "type": "function",
    "name": "Read",
    "description": "Reads a file.",
    "parameters": {"type": "object", "properties": {"file_path": {"type": "string"}}, "required": ["file_path"]},
}]


def ask(input_items):
    """One turn: the final response, and the stream's event types and text deltas."""
    if mode == "whole":
        return client.responses.create(model=model, input=input_items, tools=tools), [], []
    kinds, deltas, final = [], [], None
    for event in client.responses.create(model=model, input=input_items, tools=tools, stream=True):
        kinds.append(event.type)
        if event.type == "response.output_text.delta":
            deltas.append(event.delta)
        if event.type == "response.completed":
            final = event.response
    if final is None:
        raise SystemExit(f"the stream ended without response.completed: {kinds}")
    return final, kinds, deltas


input_items = [{"role": "user", "content": "Read /project/secret.txt"}]
first, first_events, _ = ask(input_items)
call = next(item for item in first.output if item.type == "function_call")
# As OpenAI's docs show it: the output items go back as they came.
input_items += first.output
input_items.append({"type": "function_call_output", "call_id": call.call_id, "output": "the secret word is UMBER-3390"})
second, second_events, deltas = ask(input_items)
print(json.dumps({
    "first": {"status": first.status, "call_id": call.call_id, "name": call.name,
              "arguments": json.loads(call.arguments), "model": first.model, "events": first_events},
    "second": {"status": second.status, "model": second.model, "events": second_events, "deltas": deltas,
               "text": second.output_text,
               "usage": {"input_tokens": second.usage.input_tokens, "output_tokens": second.usage.output_tokens,
                         "total_tokens": second.usage.total_tokens}},
}))
