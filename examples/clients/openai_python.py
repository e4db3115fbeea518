"""Calling tollgate with the OpenAI Python SDK: only the base URL and key change.

    pip install openai
    tollgate --config examples/local-dev.yaml &
    python examples/clients/openai_python.py

Environment (the SDK reads both itself):
    OPENAI_BASE_URL  tollgate's URL with /v1 (default here: http://127.0.0.1:4000/v1)
    OPENAI_API_KEY   your tollgate client key; any text if the gateway has no key
    MODEL            a model_name from the config (default: mock)
"""

import os

from openai import OpenAI

client = OpenAI(
    base_url=os.environ.get("OPENAI_BASE_URL", "http://127.0.0.1:4000/v1"),
    # The SDK refuses an empty key; a gateway without keys ignores it.
    api_key=os.environ.get("OPENAI_API_KEY", "unused"),
)
model = os.environ.get("MODEL", "mock")

print("models:", [m.id for m in client.models.list()])

reply = client.chat.completions.create(
    model=model,
    messages=[{"role": "user", "content": "Say hello in five words."}],
)
print("answer:", reply.choices[0].message.content)

print("streamed: ", end="", flush=True)
stream = client.chat.completions.create(
    model=model,
    messages=[{"role": "user", "content": "Count to five."}],
    stream=True,
)
for chunk in stream:
    if chunk.choices and chunk.choices[0].delta.content:
        print(chunk.choices[0].delta.content, end="", flush=True)
print()
