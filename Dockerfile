# Multi-stage build: a static govgate binary on a minimal base, run as a non-root user.
# The final image has no shell, so everything it needs on disk — the data directories
# owned by nonroot, the shipped policy — is made here in the build stage and copied in.
# TestDockerfileLayout (cmd/govgate) checks this file, .dockerignore and
# deploy/container.yaml against each other.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# .git is not in the build context (.dockerignore): name the version at build time with
# --build-arg VERSION=v1.2.3 --build-arg REVISION=$(git rev-parse HEAD).
ARG VERSION=""
ARG REVISION=""
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w -X main.version=${VERSION} -X main.revision=${REVISION}" -o /out/govgate ./cmd/govgate
RUN /out/govgate policy init /out/etc/govgate/policy \
 && mkdir -p /out/var/lib/govgate/audit /out/var/lib/govgate/keys \
 && chmod 0700 /out/var/lib/govgate /out/var/lib/govgate/audit /out/var/lib/govgate/keys

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/govgate /usr/local/bin/govgate
COPY deploy/container.yaml /etc/govgate/govgate.yaml
# The shipped policy as a start; mount the security officers' directory over it.
COPY --from=build /out/etc/govgate/policy /etc/govgate/policy
# Audit log and key store: written by the gateway, so owned by nonroot (uid 65532).
# Copied as /var/lib's content, so /var/lib/govgate itself is copied (owner and 0700
# mode) rather than created as root by COPY.
COPY --from=build --chown=65532:65532 /out/var/lib/ /var/lib/
VOLUME ["/var/lib/govgate"]
USER 65532:65532
# The TLCP data listener. The admin API stays on 127.0.0.1:9090 inside the container
# (the HEALTHCHECK and `docker exec … govgate` reach it); expose it only as TLCP with
# role certificates (admin.tlcp, admin.allow_non_loopback).
EXPOSE 8443
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
  CMD ["/usr/local/bin/govgate", "healthcheck", "--url", "http://127.0.0.1:9090/readyz", "--timeout", "4s"]
ENTRYPOINT ["/usr/local/bin/govgate", "serve"]
CMD ["-c", "/etc/govgate/govgate.yaml", "--log-format", "json"]
