#!/usr/bin/env python3
"""Measure how many of LiteLLM's own example configs tollgate loads.

Usage:
  python3 scripts/litellm_doc_configs.py [--list] TOLLGATE_BINARY SOURCE [SOURCE ...]
  python3 scripts/litellm_doc_configs.py --extract LITELLM_CHECKOUT OUT_DIR

A SOURCE is one of:
  - a LiteLLM wheel (`pip download litellm==1.110.2 --no-deps`): every
    .yaml/.yml file inside it with a top-level `model_list:` key (the
    proxy's example configs: litellm/proxy/example_config_yaml/*.yaml,
    litellm/proxy/proxy_config.yaml, ...), read from the archive;
  - a folder: every such .yaml/.yml file under it, and every fenced
    ```yaml block of every .md/.mdx file under it (LiteLLM's
    docs/my-website/docs, or a folder of blocks copied from it) whose text
    has `model_list:` at its top level, once dedented (a fence indented
    inside a list item, or a block indented as a whole);
  - a single .md/.mdx or .yaml/.yml file, read the same way.

Each config is written to a temporary proxy_config.yaml and run through
`tollgate check` and `tollgate check --strict`, with every `os.environ/NAME`
it names set to a dummy value (a URL for names holding BASE/URL/ENDPOINT/HOST)
and no other *_API_KEY/*_API_BASE variable inherited. A binary whose `check`
has no --strict (tollgate before disabled entries existed) refused every
entry it could not serve, so there "strict" equals "loaded".

Prints, per source and in total: configs, how many load (check exits 0),
how many pass --strict, how many PyYAML itself rejects (LiteLLM reads its
config with yaml.safe_load, so those fail in LiteLLM too), then the most
common first problem of the configs that do not load, and why entries of the
loaded ones are disabled (a provider tollgate does not speak, or an entry it
cannot serve), which keeps them from passing --strict. --list adds one line
per config: load/strict status, then its first problem.

--extract writes the pages listed in DOCS_PAGES, each at its recorded commit
(`git show COMMIT:PATH` in a clone of BerriAI/litellm), to OUT_DIR/proxy and
OUT_DIR/providers, the two docs sources docs/litellm-compat.md measures.
"""

import collections
import os
import re
import subprocess
import sys
import tempfile
import textwrap
import zipfile

FENCE = re.compile(r"^([ \t]*)```(?:yaml|yml)\b[^\n]*\n(.*?)^[ \t]*```", re.S | re.M)
TOP_MODEL_LIST = re.compile(r"^model_list\s*:", re.M)
ENV_REF = re.compile(r"os\.environ/([A-Za-z0-9_]+)")
# Why an entry loaded disabled, from check's warnings: a provider tollgate
# does not speak, or (newer tollgate) a setting it cannot serve with.
UNSUPPORTED = re.compile(r"provider `([^`]+)` is a LiteLLM provider tollgate does not support")
UNSERVABLE = re.compile(r"cannot be served \((.*)\); the entry is loaded disabled")

# The 43 pages of LiteLLM's docs (repo BerriAI/litellm) whose model_list
# blocks docs/litellm-compat.md measures: 16 proxy pages about the config
# file, routing, health and pricing, and 27 provider pages (OpenAI and the
# OpenAI-compatible providers, Azure, Azure AI, Ollama, vLLM, Anthropic,
# Gemini, Bedrock, ...).
DOCS_PAGES = [
    ("docs/my-website/docs/proxy/auto_routing.md", "96753b70f2ae313799e9b35e77082efd5a173ff0"),
    ("docs/my-website/docs/proxy/config_settings.md", "56fab12fbeb71884f547223bfe710988f398263a"),
    ("docs/my-website/docs/proxy/configs.md", "80c09295add6d6fdf22180cc7ecc43244261c538"),
    ("docs/my-website/docs/proxy/custom_pricing.md", "de8e7a9c22d739e3835dd9dfdcf135fc72f9973e"),
    ("docs/my-website/docs/proxy/customer_routing.md", "da1888cc6c1b076a7191a0e714eadc4808a69e76"),
    ("docs/my-website/docs/proxy/docker_quick_start.md", "12b89f7999f7a548fa7a2bdc1e7831a3b5d1eec6"),
    ("docs/my-website/docs/proxy/health.md", "b9ce3a1587079c9667acb009c61074afde8e9aa3"),
    ("docs/my-website/docs/proxy/load_balancing.md", "bfbdfaba30e5f2ea66655099ca25e37fc16919a2"),
    ("docs/my-website/docs/proxy/model_access.md", "367e415393146122264db6f06286938b942a12f0"),
    ("docs/my-website/docs/proxy/model_management.md", "8104c56c23a98e2297c56f4c93753f9a71cab3bb"),
    ("docs/my-website/docs/proxy/prod.md", "c82866459f9586d259a9d3212b1302d2fd5c58da"),
    ("docs/my-website/docs/proxy/provider_budget_routing.md", "5288b3385dd57a48feb21d2d8e847d36db336cb9"),
    ("docs/my-website/docs/proxy/quick_start.md", "e8d77cea5abb635825d5565a9de8b447fc0dbb00"),
    ("docs/my-website/docs/proxy/reliability.md", "0dd6cc13244b7963f2ab5d25a55c1fe1c2aabaf3"),
    ("docs/my-website/docs/proxy/tag_routing.md", "a92b521ad41b01bfe24dc8127a4532d5629770dd"),
    ("docs/my-website/docs/proxy/timeout.md", "c001ff43be49d92910d5dae1106d11a22185d389"),
    ("docs/my-website/docs/providers/anthropic.md", "4193683513c2f69d3df77e80b4f11fcf893b878d"),
    ("docs/my-website/docs/providers/anyscale.md", "1aedde15f21e9420c86db5cedafc62bc23e38a75"),
    ("docs/my-website/docs/providers/azure/azure.md", "cb481e36b55c804148f9272671d1a1b36732f6e8"),
    ("docs/my-website/docs/providers/azure_ai.md", "1d8f7a08adc27b66ae7543d02baa8a15780fffd6"),
    ("docs/my-website/docs/providers/bedrock.md", "19e1d29154bea250b8bf89e41abafea28657354a"),
    ("docs/my-website/docs/providers/cerebras.md", "a10a2273f97362706a5865538e278deca719822c"),
    ("docs/my-website/docs/providers/codestral.md", "57a634d57ea409eb506c8bdba1d1393a64d1a143"),
    ("docs/my-website/docs/providers/cohere.md", "f58bc90f987d9829ba4e0094e1915ef9fecf609a"),
    ("docs/my-website/docs/providers/custom_openai_proxy.md", "deddb48683992d12867371d55d8660ec5a37ece6"),
    ("docs/my-website/docs/providers/deepinfra.md", "8251e71a2ab58ac83b067be759011763ba137c67"),
    ("docs/my-website/docs/providers/deepseek.md", "cb481e36b55c804148f9272671d1a1b36732f6e8"),
    ("docs/my-website/docs/providers/fireworks_ai.md", "03ea28464c85336a3dde7f496b4b705bee6fad55"),
    ("docs/my-website/docs/providers/gemini.md", "a65476edaf0ce96f127c51525078c5222ed6ba78"),
    ("docs/my-website/docs/providers/groq.md", "5bb7394c93e00b5a45ae76f5de5335ee8dc5c667"),
    ("docs/my-website/docs/providers/litellm_proxy.md", "f77d90049e7448cfcd77b170e4ad7efce8dc417b"),
    ("docs/my-website/docs/providers/lm_studio.md", "2abae617e537c00b243ebd356277f1c200638bce"),
    ("docs/my-website/docs/providers/mistral.md", "a033016a638e71dd9335e3765fbecc26494b27a1"),
    ("docs/my-website/docs/providers/nvidia_nim.md", "56b8c1656dec7ca0d39ad9304122684e109b4209"),
    ("docs/my-website/docs/providers/ollama.md", "02d7bc44e340c06fd39ae742a8a654a14f7667de"),
    ("docs/my-website/docs/providers/openai.md", "267886f465e8d86f68ecc817d05eff0a900acdef"),
    ("docs/my-website/docs/providers/openai_compatible.md", "dac9e41e97b7b7402fa7ada39383338e986a3907"),
    ("docs/my-website/docs/providers/openrouter.md", "15fcf4477cd568a36e0c54e387471482a184e8ae"),
    ("docs/my-website/docs/providers/perplexity.md", "4bbf9fd32a3733e998e374ce627b745ee507447c"),
    ("docs/my-website/docs/providers/text_completion_openai.md", "d088d76cb9711c4ddb165b02d79bb63368c87c25"),
    ("docs/my-website/docs/providers/togetherai.md", "56ce6cb5872a1ef899c9289828fbed0a512c16a6"),
    ("docs/my-website/docs/providers/vllm.md", "dac9e41e97b7b7402fa7ada39383338e986a3907"),
    ("docs/my-website/docs/providers/xai.md", "541cc67d358bc06e9397175724f6b2a132d53219"),
]


def dedent(block, indent):
    """A fence indented inside a list item: strip that indent from each line,
    then any indent the whole block shares (still one YAML document)."""
    if indent:
        block = "".join(
            line[len(indent):] if line.startswith(indent) else line.lstrip(" \t")
            for line in block.splitlines(keepends=True)
        )
    return textwrap.dedent(block)


def from_markdown(path, text):
    for n, match in enumerate(FENCE.finditer(text)):
        block = dedent(match.group(2), match.group(1))
        if TOP_MODEL_LIST.search(block):
            yield f"{path}#{n}", block


def from_file(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        text = f.read()
    if path.endswith((".md", ".mdx")):
        yield from from_markdown(path, text)
    elif path.endswith((".yaml", ".yml")) and TOP_MODEL_LIST.search(text):
        yield path, text


def from_wheel(path):
    with zipfile.ZipFile(path) as wheel:
        for name in sorted(wheel.namelist()):
            if name.endswith((".yaml", ".yml")):
                text = wheel.read(name).decode("utf-8", errors="replace")
                if TOP_MODEL_LIST.search(text):
                    yield name, text


def configs(source):
    if source.endswith(".whl"):
        yield from from_wheel(source)
    elif os.path.isdir(source):
        for folder, dirs, files in os.walk(source):
            dirs.sort()
            for name in sorted(files):
                yield from from_file(os.path.join(folder, name))
    else:
        yield from from_file(source)


def dummy(name):
    if any(word in name for word in ("BASE", "URL", "ENDPOINT", "HOST")):
        return "http://127.0.0.1:9/v1"
    return f"dummy-{name.lower()}"


def run_check(binary, path, env, strict):
    args = [binary, "check", "--config", path] + (["--strict"] if strict else [])
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=30)
    return done.returncode, done.stdout + done.stderr


def has_strict(binary):
    done = subprocess.run([binary, "check", "--help"], capture_output=True, text=True)
    return "--strict" in done.stdout + done.stderr


def check(binary, text, strict_supported):
    """(loaded, strict, first problem or disabled providers) for one config."""
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "proxy_config.yaml")
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_API_BASE"))}
        env.update({name: dummy(name) for name in ENV_REF.findall(text)})
        code, out = run_check(binary, path, env, strict=False)
        if code != 0:
            return False, False, first_problem(out, path)
        if not strict_supported:
            return True, True, ""
        code, out = run_check(binary, path, env, strict=True)
        if code == 0:
            return True, True, ""
        reasons = sorted(set(UNSUPPORTED.findall(out)) | {f"entry: {r}" for r in UNSERVABLE.findall(out)})
        return True, False, "disabled: " + ", ".join(reasons) if reasons else first_problem(out, path)


def first_problem(output, path):
    lines = [line.strip() for line in output.splitlines()]
    problems = [line for line in lines if line and not line.startswith(("warning:", "ok:", path))]
    line = problems[0] if problems else output.strip()
    # The kind of problem, without the entry's position.
    line = re.sub(r"model_list\[\d+\]", "model_list[i]", line)
    line = re.sub(r"yaml line \d+, column \d+", "yaml line L", line)
    line = re.sub(r" \(supported: [^)]*\)?", "", line)
    return line[:160]


def pyyaml_rejects(text):
    try:
        import yaml
    except ImportError:
        return None
    try:
        yaml.safe_load(text)
        return False
    except yaml.YAMLError:
        return True


def share(part, whole):
    return f"{part} ({100 * part / max(whole, 1):.0f}%)"


def extract(checkout, out):
    """Each page of DOCS_PAGES at its commit, into OUT/proxy or OUT/providers."""
    for path, commit in DOCS_PAGES:
        rest = path.removeprefix("docs/my-website/docs/")
        section, _, name = rest.partition("/")
        target = os.path.join(out, section, name.replace("/", "__"))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        text = subprocess.run(
            ["git", "-C", checkout, "show", f"{commit}:{path}"], capture_output=True, check=True
        ).stdout
        with open(target, "wb") as f:
            f.write(text)
    print(f"{len(DOCS_PAGES)} pages written under {out}")


def main():
    args = sys.argv[1:]
    if args[:1] == ["--extract"]:
        if len(args) != 3:
            sys.exit(__doc__)
        return extract(args[1], args[2])
    listing = "--list" in args
    args = [a for a in args if a != "--list"]
    if len(args) < 2:
        sys.exit(__doc__)
    binary, sources = args[0], args[1:]
    strict_supported = has_strict(binary)
    load_reasons = collections.Counter()
    strict_reasons = collections.Counter()
    totals = [0, 0, 0, 0]
    for source in sources:
        counts = [0, 0, 0, 0]
        for name, text in configs(source):
            loaded, strict, problem = check(binary, text, strict_supported)
            bad_yaml = pyyaml_rejects(text)
            counts[0] += 1
            counts[1] += loaded
            counts[2] += strict
            counts[3] += bool(bad_yaml)
            if not loaded:
                load_reasons[problem] += 1
            elif not strict and problem.startswith("disabled: "):
                for provider in problem.removeprefix("disabled: ").split(", "):
                    strict_reasons[provider] += 1
            elif not strict:
                strict_reasons[problem] += 1
            if listing:
                status = "strict" if strict else "load" if loaded else "FAIL"
                mark = " [PyYAML rejects]" if bad_yaml else ""
                print(f"{status:6} {name}{mark}  {problem}")
        totals = [t + c for t, c in zip(totals, counts)]
        report(source, counts, strict_supported)
    if len(sources) > 1:
        report("total", totals, strict_supported)
    print("first problem of the configs that do not load:")
    for reason, count in load_reasons.most_common(15):
        print(f"  {count:4}  {reason}")
    if strict_reasons:
        print("why entries are disabled in configs that load but fail --strict (provider not spoken, or entry:):")
        for provider, count in strict_reasons.most_common():
            print(f"  {count:4}  {provider}")


def report(label, counts, strict_supported):
    total, loaded, strict, bad_yaml = counts
    note = "" if strict_supported else " (no --strict: = load)"
    print(
        f"{label}: configs {total}  load {share(loaded, total)}  strict {share(strict, total)}{note}"
        f"  PyYAML rejects {bad_yaml}"
    )


if __name__ == "__main__":
    main()
