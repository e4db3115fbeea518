"""The openai SDK's chat client, streamed with `stream_options.include_usage`:
the text, the finish reason, and the usage chunk. Prints one JSON line.

usage: chat_usage.py BASE_URL KEY MODEL
"""
import json
import sys

import openai

base_url, key, model = sys.argv[1:4]
client = openai.OpenAI(base_url=base_url, api_key=key, max_retries=0, timeout=20)
stream = client.chat.completions.create(
    model=model,
    messages=[{"role": "user", "content": "Say something."}],
    stream=True,
    stream_options={"include_usage": True},
)
text, finish, usage, chunks, after_usage = "", None, None, 0, 0
for chunk in stream:
    chunks += 1
    if usage is not None:
        after_usage += 1
    for choice in chunk.choices:
        text += choice.delta.content or ""
        finish = choice.finish_reason or finish
    if chunk.usage is not None:
        usage = {"prompt_tokens": chunk.usage.prompt_tokens, "completion_tokens": chunk.usage.completion_tokens,
                 "total_tokens": chunk.usage.total_tokens, "choices": len(chunk.choices)}
print(json.dumps({"text": text, "finish_reason": finish, "usage": usage, "chunks": chunks,
                  "chunks_after_usage": after_usage, "model": chunk.model}))
