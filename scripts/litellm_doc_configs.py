#!/usr/bin/env python3
"""Measure how many of LiteLLM's documented proxy configs tollgate loads.

Usage: python3 scripts/litellm_doc_configs.py TOLLGATE_BINARY DOCS_DIR [DOCS_DIR ...]

Walks every *.md / *.mdx under the given folders (LiteLLM's
docs/my-website/docs), takes each fenced YAML block that holds a
`model_list:` key at its top level, writes it to a temporary
proxy_config.yaml and runs `tollgate check` and `tollgate check --strict`
on it, with every `os.environ/NAME` it names set to a dummy value (a URL
for names holding BASE/URL/ENDPOINT). Prints the counts: blocks, loaded
(check exits 0), strict (check --strict exits 0), and the most common
first problem of the blocks that did not load.
"""

import collections
import os
import re
import subprocess
import sys
import tempfile

FENCE = re.compile(r"^```(?:yaml|yml)[^\n]*\n(.*?)^```", re.S | re.M)
ENV_REF = re.compile(r"os\.environ/([A-Za-z0-9_]+)")


def blocks(paths):
    for root in paths:
        for folder, _, files in os.walk(root):
            for name in sorted(files):
                if not name.endswith((".md", ".mdx")):
                    continue
                path = os.path.join(folder, name)
                with open(path, encoding="utf-8", errors="replace") as f:
                    text = f.read()
                for n, match in enumerate(FENCE.finditer(text)):
                    block = match.group(1)
                    if re.search(r"^model_list:", block, re.M):
                        yield f"{path}#{n}", block


def dummy(name):
    if any(word in name for word in ("BASE", "URL", "ENDPOINT")):
        return "http://127.0.0.1:9/v1"
    return f"dummy-{name.lower()}"


def check(binary, text, strict):
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "proxy_config.yaml")
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_API_BASE"))}
        env.update({name: dummy(name) for name in ENV_REF.findall(text)})
        args = [binary, "check", "--config", path] + (["--strict"] if strict else [])
        done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=30)
        return done.returncode, done.stderr


def first_problem(stderr):
    for line in stderr.splitlines()[1:]:
        # The kind of problem, without the entry's position.
        return re.sub(r"model_list\[\d+\]", "model_list[i]", line.strip())[:140]
    return stderr.strip()[:140]


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    binary, roots = sys.argv[1], sys.argv[2:]
    total = loaded = strict = 0
    reasons = collections.Counter()
    for _, text in blocks(roots):
        total += 1
        code, stderr = check(binary, text, strict=False)
        if code == 0:
            loaded += 1
            if check(binary, text, strict=True)[0] == 0:
                strict += 1
        else:
            reasons[first_problem(stderr)] += 1
    print(f"blocks {total}  load {loaded} ({100 * loaded / max(total, 1):.0f}%)  strict {strict} ({100 * strict / max(total, 1):.0f}%)")
    for reason, count in reasons.most_common(8):
        print(f"  {count:4}  {reason}")


if __name__ == "__main__":
    main()
