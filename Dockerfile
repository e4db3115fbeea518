# syntax=docker/dockerfile:1
# tollgate's image: the release binary on distroless/cc (glibc, libgcc, CA
# certificates, no shell), running as the unprivileged user 65532.
#
#   docker build -t tollgate .
#   docker run --rm -p 4000:4000 -v "$PWD/examples:/etc/tollgate:ro" \
#     -e TOLLGATE_MASTER_KEY=sk-... -e IDE_KEY=sk-... -e OPENROUTER_API_KEY=sk-... \
#     tollgate --config /etc/tollgate/client-keys.yaml --host 0.0.0.0
#
# Mount the config's folder, not the file, so edits reach the hot reload.

# Build on bookworm: the binary links glibc dynamically, and distroless
# cc-debian12 carries bookworm's glibc.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
# Cache mounts keep the registry and target folder between builds; the binary
# is copied out in the same step because the cache is not part of the layer.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked \
    && cp target/release/tollgate /tollgate

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /tollgate /tollgate
# 65532 is distroless's `nonroot`; numeric so Kubernetes' runAsNonRoot can
# verify it without a runAsUser.
USER 65532:65532
EXPOSE 4000
ENTRYPOINT ["/tollgate"]
# Listening beyond loopback needs a key in the config (master_key or
# tollgate.clients); without one tollgate refuses to start and says why.
CMD ["--config", "/etc/tollgate/proxy_config.yaml", "--host", "0.0.0.0"]
