# syntax=docker/dockerfile:1
# formpay: build the production release (no simulator) in one stage, run it
# from a small one holding only the binary and the site.
#
#   docker build -t formpay .
#   docker compose up -d        (compose.yaml: formpay with PostgreSQL)
#
# Settings come from the environment (README, "Configuration"); the image
# sets only where things are inside it.

FROM rust:1-bookworm AS build
WORKDIR /src
# The browser bundle's tools come from the package registries (npm's
# binaryen, crates.io's wasm-bindgen-cli): `cargo xtask build` installs them.
RUN apt-get update \
 && apt-get install -y --no-install-recommends nodejs npm \
 && rm -rf /var/lib/apt/lists/*
COPY . .
RUN cargo xtask build --production

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates tzdata \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/formpay --shell /usr/sbin/nologin formpay \
 && install -d -o formpay -g formpay -m 0750 /var/lib/formpay
COPY --from=build /src/target/release/formpay /usr/local/bin/formpay
COPY --from=build /src/target/site /usr/local/share/formpay/site
ENV APP_ENV=production \
    APP_ADDR=0.0.0.0:3000 \
    DATABASE_URL=sqlite:///var/lib/formpay/formpay.db \
    LEPTOS_SITE_ROOT=/usr/local/share/formpay/site \
    RUST_LOG=info
USER formpay
WORKDIR /var/lib/formpay
VOLUME ["/var/lib/formpay"]
EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["/usr/local/bin/formpay", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/formpay"]
CMD ["serve"]
