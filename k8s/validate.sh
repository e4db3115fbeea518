#!/usr/bin/env bash
# Validates every Kubernetes manifest under k8s/ offline and strictly (unknown
# fields are errors) against a pinned Kubernetes version. Installs nothing:
# expects kubernetes-validate on PATH, e.g. `pip install kubernetes-validate==1.37.0`
# (its schemas ship inside the package, so no network is needed).
# kustomization.yaml files are kustomize's input, not manifests, and are skipped.
set -euo pipefail

# The oldest API these manifests target: native sidecars (1.29) and the
# preStop sleep action (1.30) are on by default from there.
KUBERNETES_VERSION="${KUBERNETES_VERSION:-1.33.0}"

cd "$(dirname "$0")"
# pip may put the script where PATH does not look (pyenv shims need a
# rehash); the module form works wherever python3 can import it.
if command -v kubernetes-validate >/dev/null 2>&1; then
    validate=(kubernetes-validate)
elif python3 -c 'import kubernetes_validate' >/dev/null 2>&1; then
    validate=(python3 -m kubernetes_validate)
else
    echo "validate.sh: kubernetes-validate is not installed (pip install kubernetes-validate==1.37.0)" >&2
    exit 2
fi

manifests=()
while IFS= read -r -d '' file; do
    manifests+=("$file")
done < <(find . -type f \( -name '*.yaml' -o -name '*.yml' \) \
    ! -name kustomization.yaml ! -name kustomization.yml -print0 | sort -z)

if [ "${#manifests[@]}" -eq 0 ]; then
    echo "validate.sh: no manifests found under k8s/" >&2
    exit 1
fi

"${validate[@]}" --strict --kubernetes-version "$KUBERNETES_VERSION" "${manifests[@]}"
