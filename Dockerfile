# The registryo image: build, then a minimal runtime with only the binary (and the shared
# libraries it links), the CA certificates and a non-root user (registryo, uid 10001).
#
#   docker build -t registryo .
#   docker run -d --name registryo -p 5001:5001 -v registryo-data:/data \
#       -e REGISTRYO_PUBLIC_URL=http://HOST:5001 registryo
#   docker logs registryo        # the first admin's password (or set REGISTRYO_ADMIN_PASSWORD)
#
# Settings come from REGISTRYO_* variables (or /etc/registryo/registryo.toml: the working
# directory). Data in the /data volume; the registry's certificate bundle and JWKS are written
# to /data-public, which compose.yaml shares with the registry.
#
# scripts/image/build makes the same runtime image offline from a locally built binary: it
# takes the stage below from this file (everything after `FROM scratch`), so keep the build
# stage's output in /rootfs and the runtime's instructions after that line.

FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p registryo-bin --bin registryo \
 && scripts/image/rootfs target/release/registryo /rootfs

FROM scratch
COPY --from=build /rootfs/root/ /
COPY --from=build --chown=10001:10001 /rootfs/owned/ /
USER 10001:10001
WORKDIR /etc/registryo
ENV REGISTRYO_DATA=/data REGISTRYO_LISTEN=0.0.0.0:5001
VOLUME /data
EXPOSE 5001
# `registryo healthcheck` asks /healthz on the listen address: 200 only when the store takes a
# write.
HEALTHCHECK --interval=10s --timeout=5s --start-period=5s --retries=3 \
  CMD ["/usr/local/bin/registryo", "healthcheck"]
# On SIGTERM requests in flight get shutdown_grace_secs (10 s) to finish: give `docker stop`
# more than that (`docker stop -t 15`, compose.yaml's stop_grace_period).
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/registryo"]
CMD ["serve"]
