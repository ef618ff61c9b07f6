# Multi-stage build: compile in the Rust image, run from a small Debian image.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY crates crates
COPY src src
COPY schema schema
RUN cargo build --release --locked --bin crmdav

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home /var/lib/crmdav --create-home crmdav
COPY --from=build /src/target/release/crmdav /usr/local/bin/crmdav
USER crmdav
WORKDIR /var/lib/crmdav
ENV CRMDAV_LISTEN=0.0.0.0:5232
EXPOSE 5232
HEALTHCHECK --interval=10s --timeout=3s CMD curl -fsS http://127.0.0.1:5232/healthz || exit 1
ENTRYPOINT ["crmdav"]
CMD ["serve"]
