# Builds the `tandem` binary and ships it on a slim Debian with the few libraries it needs.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p tandem-cli

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl libgomp1 && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/tandem /usr/local/bin/tandem
USER nobody
EXPOSE 8080
CMD ["tandem", "serve"]
