#!/usr/bin/env python3
"""Build tollgate's provider table, data/providers.tsv, from LiteLLM's provider facts.

Usage: python3 scripts/gen_providers.py PROVIDERS_JSON LITELLM_COMMIT

PROVIDERS_JSON is LiteLLM's litellm/llms/openai_like/providers.json (the
providers LiteLLM keeps as data). Providers with a module of their own
(groq, mistral, ...) are listed below as facts read from their LiteLLM
modules and docs at the same commit: the default base URL and the
environment variables LiteLLM reads when an entry gives no api_key/api_base.

Columns: prefix, wire, default api_base ("" = the entry must give one),
key variables and base variables (comma-separated, first set wins), a
model prefix LiteLLM adds when the model name lacks it, and the request
fields LiteLLM renames for the provider (`param_mappings`, as
`from:to,...`, e.g. `max_completion_tokens:max_tokens`). Providers whose
data needs a quirk tollgate does not implement (a key sent in a custom
header) are left out, so they stay "not supported" rather than half-working.
Output is sorted by prefix, so the file is deterministic.
"""

import json
import os
import re
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUTPUT = os.path.join(REPO, "data", "providers.tsv")

# prefix: (wire, default base, key variables, base variables, model prefix[, renames])
# Read from each provider's LiteLLM module (`get_openai_compatible_provider_info`,
# `_get_openai_compatible_provider_info`, `validate_environment`) and docs page.
MODULE_FACTS = {
    "openai": ("openai", "https://api.openai.com/v1", "OPENAI_API_KEY", "OPENAI_BASE_URL,OPENAI_API_BASE", ""),
    "text-completion-openai": ("openai", "https://api.openai.com/v1", "OPENAI_API_KEY", "OPENAI_BASE_URL,OPENAI_API_BASE", ""),
    "custom_openai": ("openai", "", "OPENAI_API_KEY", "", ""),
    "openai_like": ("openai", "", "", "", ""),
    "litellm_proxy": ("openai", "", "LITELLM_PROXY_API_KEY", "LITELLM_PROXY_API_BASE", ""),
    "hosted_vllm": ("openai", "", "HOSTED_VLLM_API_KEY", "HOSTED_VLLM_API_BASE", ""),
    "lm_studio": ("openai", "", "LM_STUDIO_API_KEY", "LM_STUDIO_API_BASE", ""),
    "llamafile": ("openai", "http://127.0.0.1:8080/v1", "LLAMAFILE_API_KEY", "LLAMAFILE_API_BASE", ""),
    "xinference": ("openai", "http://127.0.0.1:9997/v1", "XINFERENCE_API_KEY", "XINFERENCE_API_BASE", ""),
    "openrouter": ("openai", "https://openrouter.ai/api/v1", "OPENROUTER_API_KEY,OR_API_KEY", "OPENROUTER_API_BASE", ""),
    "groq": ("openai", "https://api.groq.com/openai/v1", "GROQ_API_KEY", "GROQ_API_BASE", ""),
    # MistralConfig.map_openai_params: max_completion_tokens goes as max_tokens,
    # seed as random_seed (Mistral's API refuses fields it does not know).
    "mistral": ("openai", "https://api.mistral.ai/v1", "MISTRAL_AZURE_API_KEY,MISTRAL_API_KEY", "MISTRAL_AZURE_API_BASE,MISTRAL_API_BASE", "", "max_completion_tokens:max_tokens,seed:random_seed"),
    "codestral": ("openai", "https://codestral.mistral.ai/v1", "CODESTRAL_API_KEY", "CODESTRAL_API_BASE", ""),
    "deepseek": ("openai", "https://api.deepseek.com/beta", "DEEPSEEK_API_KEY", "DEEPSEEK_API_BASE", ""),
    "xai": ("openai", "https://api.x.ai/v1", "XAI_API_KEY", "XAI_API_BASE", ""),
    "together_ai": ("openai", "https://api.together.xyz/v1", "TOGETHERAI_API_KEY,TOGETHER_AI_API_KEY,TOGETHER_API_KEY", "TOGETHERAI_API_BASE", ""),
    "fireworks_ai": ("openai", "https://api.fireworks.ai/inference/v1", "FIREWORKS_API_KEY,FIREWORKS_AI_API_KEY,FIREWORKSAI_API_KEY,FIREWORKS_AI_TOKEN", "FIREWORKS_API_BASE", "accounts/fireworks/models/"),
    "perplexity": ("openai", "https://api.perplexity.ai", "PERPLEXITYAI_API_KEY,PERPLEXITY_API_KEY", "PERPLEXITY_API_BASE", ""),
    "cerebras": ("openai", "https://api.cerebras.ai/v1", "CEREBRAS_API_KEY", "CEREBRAS_API_BASE", ""),
    "deepinfra": ("openai", "https://api.deepinfra.com/v1/openai", "DEEPINFRA_API_KEY", "DEEPINFRA_API_BASE", ""),
    "nvidia_nim": ("openai", "https://integrate.api.nvidia.com/v1", "NVIDIA_NIM_API_KEY", "NVIDIA_NIM_API_BASE", ""),
    "anyscale": ("openai", "https://api.endpoints.anyscale.com/v1", "ANYSCALE_API_KEY", "ANYSCALE_API_BASE", ""),
    "friendliai": ("openai", "https://api.friendli.ai/serverless/v1", "FRIENDLIAI_API_KEY,FRIENDLI_TOKEN", "FRIENDLI_API_BASE", ""),
    "sambanova": ("openai", "https://api.sambanova.ai/v1", "SAMBANOVA_API_KEY", "SAMBANOVA_API_BASE", ""),
    "github": ("openai", "https://models.inference.ai.azure.com", "GITHUB_API_KEY", "", ""),
    "nebius": ("openai", "https://api.studio.nebius.ai/v1", "NEBIUS_API_KEY", "NEBIUS_API_BASE", ""),
    "dashscope": ("openai", "https://dashscope-intl.aliyuncs.com/compatible-mode/v1", "DASHSCOPE_API_KEY", "DASHSCOPE_API_BASE", ""),
    "moonshot": ("openai", "https://api.moonshot.ai/v1", "MOONSHOT_API_KEY", "MOONSHOT_API_BASE", ""),
    "novita": ("openai", "https://api.novita.ai/v3/openai", "NOVITA_API_KEY", "", ""),
    "hyperbolic": ("openai", "https://api.hyperbolic.xyz/v1", "HYPERBOLIC_API_KEY", "HYPERBOLIC_API_BASE", ""),
    "lambda_ai": ("openai", "https://api.lambda.ai/v1", "LAMBDA_API_KEY", "LAMBDA_API_BASE", ""),
    "featherless_ai": ("openai", "https://api.featherless.ai/v1", "FEATHERLESS_AI_API_KEY", "FEATHERLESS_AI_API_BASE", ""),
    "galadriel": ("openai", "https://api.galadriel.com/v1", "GALADRIEL_API_KEY", "GALADRIEL_API_BASE", ""),
    "volcengine": ("openai", "https://ark.cn-beijing.volces.com/api/v3", "VOLCENGINE_API_KEY,ARK_API_KEY", "VOLCENGINE_API_BASE", ""),
    "nscale": ("openai", "https://inference.api.nscale.com/v1", "NSCALE_API_KEY", "NSCALE_API_BASE", ""),
    "empower": ("openai", "https://app.empower.dev/api/v1", "EMPOWER_API_KEY", "", ""),
    "ai21_chat": ("openai", "https://api.ai21.com/studio/v1", "AI21_API_KEY", "AI21_API_BASE", ""),
    "meta_llama": ("openai", "https://api.llama.com/compat/v1", "LLAMA_API_KEY", "LLAMA_API_BASE", ""),
    "v0": ("openai", "https://api.v0.dev/v1", "V0_API_KEY", "V0_API_BASE", ""),
    "morph": ("openai", "https://api.morphllm.com/v1", "MORPH_API_KEY", "MORPH_API_BASE", ""),
    # Cohere through its OpenAI-compatible endpoint (LiteLLM itself speaks Cohere's v2 API).
    "cohere": ("openai", "https://api.cohere.ai/compatibility/v1", "COHERE_API_KEY,CO_API_KEY", "COHERE_API_BASE", ""),
    "cohere_chat": ("openai", "https://api.cohere.ai/compatibility/v1", "COHERE_API_KEY,CO_API_KEY", "COHERE_API_BASE", ""),
    "anthropic": ("anthropic", "https://api.anthropic.com", "ANTHROPIC_API_KEY", "ANTHROPIC_API_BASE,ANTHROPIC_BASE_URL", ""),
}


def json_sides(text):
    """LiteLLM's file at some commits holds an unresolved merge: read both sides."""
    if "<<<<<<<" not in text:
        return [text]
    ours, theirs, side = [], [], "both"
    for line in text.splitlines():
        if line.startswith("<<<<<<<"):
            side = "ours"
        elif line.startswith("=======") and side == "ours":
            side = "theirs"
        elif line.startswith(">>>>>>>"):
            side = "both"
        else:
            if side in ("both", "ours"):
                ours.append(line)
            if side in ("both", "theirs"):
                theirs.append(line)
    return ["\n".join(ours), "\n".join(theirs)]


def from_json(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    rows = {}
    for side in json_sides(text):
        for prefix, facts in json.loads(side).items():
            if facts.get("headers"):
                print(f"gen_providers: {prefix} sends its key in a custom header: left out", file=sys.stderr)
                continue
            base = facts["base_url"].rstrip("/")
            renames = ",".join(f"{k}:{v}" for k, v in sorted(facts.get("param_mappings", {}).items()))
            rows[prefix] = ("openai", base, facts.get("api_key_env", ""), facts.get("api_base_env", ""), "", renames)
    return rows


def clean(text):
    if any(c in text for c in "\t\r\n") or not re.fullmatch(r"[\x21-\x7e]*", text):
        sys.exit(f"gen_providers: {text!r} cannot be written to a TSV field")
    return text


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    rows = from_json(sys.argv[1])
    rows.update({prefix: facts + ("",) * (6 - len(facts)) for prefix, facts in MODULE_FACTS.items()})
    with open(OUTPUT, "w", encoding="utf-8") as out:
        out.write(
            f"# LiteLLM's providers: facts from litellm/llms/openai_like/providers.json and its provider modules at "
            f"commit {sys.argv[2]} (LiteLLM is MIT licensed); generated by scripts/gen_providers.py, do not edit\n"
        )
        out.write("# prefix\twire\tdefault_api_base\tkey_env\tbase_env\tmodel_prefix\tparam_renames\n")
        for prefix in sorted(rows):
            out.write("\t".join(clean(f) for f in (prefix, *rows[prefix])) + "\n")
    print(f"gen_providers: {len(rows)} providers to {OUTPUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
