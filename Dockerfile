# Multi-stage build: a static govgate binary on a minimal base, run as a non-root user.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/govgate ./cmd/govgate

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/govgate /usr/local/bin/govgate
COPY examples/govgate.yaml /etc/govgate/govgate.yaml
USER nonroot:nonroot
EXPOSE 8080 9090
ENTRYPOINT ["/usr/local/bin/govgate", "serve"]
CMD ["-c", "/etc/govgate/govgate.yaml"]
