# Container image of mta-sts-host: a build stage that compiles the binary
# with the project's own CMake, and a small runtime stage holding only the
# binary and the shared libraries it links (libmicrohttpd, GnuTLS, libyaml,
# libunbound, libcurl, jansson, zlib, SQLite, GMime).
# The runtime runs as a fixed non-root uid, writes nothing to its root file
# system (runs with --read-only) and listens on unprivileged ports; publish
# them as 443 and 80 on the host.
#
#   docker build -t mta-sts-host .
#   docker run --read-only -p 443:8443 -p 80:8080 \
#     -v "$PWD/policy:/policy:ro" -v "$PWD/certs:/certs:ro" mta-sts-host
#
# Mount points (bind-mount the directories, not single files: the server
# watches directories so that edits go live):
#   /policy  policy files; mta-sts.txt is the default policy   (required)
#   /certs   <name>.crt + <name>.key, <name>.pem, or certbot <name>/ dirs
#   /config  optional config.yaml; pass `serve -c /config/config.yaml`
#
# Without access to a registry, first run deploy/build-base-image.sh: it
# builds BASE_IMAGE locally with debootstrap.
ARG BASE_IMAGE=debian:bookworm-slim

FROM ${BASE_IMAGE} AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      gcc libc6-dev make cmake pkg-config \
      libmicrohttpd-dev libgnutls28-dev libyaml-dev libunbound-dev libcurl4-gnutls-dev \
      libjansson-dev zlib1g-dev libsqlite3-dev libgmime-3.0-dev \
      ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# Hardening flags as Debian builds its packages (gcc defaults to PIE).
ENV CFLAGS="-fstack-protector-strong -fstack-clash-protection -fcf-protection -D_FORTIFY_SOURCE=2" \
    LDFLAGS="-Wl,-z,relro -Wl,-z,now"
RUN cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF \
 && cmake --build build -j"$(nproc)" \
 && cmake --install build --strip --prefix /out \
 && /out/bin/mta-sts-host --version

FROM ${BASE_IMAGE}
# Runtime libraries only. The ldd check fails the build if the binary ever
# links a library that is not installed here.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libmicrohttpd12 libgnutls30 libyaml-0-2 libunbound8 libcurl3-gnutls dns-root-data \
      libjansson4 zlib1g libsqlite3-0 libgmime-3.0-0 \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt /var/log/dpkg.log \
 && groupadd --system --gid 10001 mta-sts \
 && useradd --system --uid 10001 --gid 10001 --no-create-home \
      --home-dir /nonexistent --shell /usr/sbin/nologin mta-sts \
 && mkdir -p /policy /certs /config \
 && install -d -o 10001 -g 10001 -m 0700 /var/lib/mta-sts-host
COPY --from=build /out/bin/mta-sts-host /usr/local/bin/mta-sts-host
# Only the CA bundle (GnuTLS's system trust store on Debian), not the
# ca-certificates package and its openssl dependency: the server uses it to
# warn about certificate chains that senders will not be able to verify.
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
RUN if ldd /usr/local/bin/mta-sts-host | grep 'not found'; then exit 1; fi \
 && mta-sts-host --version

# A numeric user so that Kubernetes' runAsNonRoot can check it.
USER 10001:10001
WORKDIR /
EXPOSE 8443/tcp 8080/tcp
STOPSIGNAL SIGTERM
# /healthz on the plain HTTP listener; the binary is its own client.
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
  CMD ["mta-sts-host", "health"]
ENTRYPOINT ["mta-sts-host"]
CMD ["serve", "--policy-dir", "/policy", "--cert-dir", "/certs", \
     "--state-dir", "/var/lib/mta-sts-host"]

ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="mta-sts-host" \
      org.opencontainers.image.description="MTA-STS (RFC 8461) policy HTTPS host" \
      org.opencontainers.image.version="${VERSION}" \
      io.mta-sts-host.mounts="/policy (required, ro) /certs (ro) /config (optional, ro) /var/lib/mta-sts-host (state, rw)"
