# syntax=docker/dockerfile:1.7
# One Dockerfile, one target per component:
#   docker build --target coordinator -t tccsuite/coordinator:0.1.0 .
# Binaries are static (CGO off; SQLite is pure Go) and run as a non-root user in a
# distroless image. Image tags are pinned; never `latest`.

FROM golang:1.26.8-bookworm AS build
WORKDIR /src
# GOWORK=off: the build uses go.mod alone (its replace directive points at the SDK module
# in pkg/tcc); the go.work at the root is for development only.
ENV CGO_ENABLED=0 GOFLAGS=-trimpath GOWORK=off
# Every module's go.mod and go.sum first, so the download layer is reused until they change.
COPY go.mod go.sum ./
COPY pkg/tcc/go.mod pkg/tcc/go.sum ./pkg/tcc/
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    for c in coordinator services/order services/inventory services/payment cmd/tccsuite cmd/healthcheck; do \
      go build -ldflags='-s -w' -o /out/$(basename $c) ./$c || exit 1; \
    done

FROM gcr.io/distroless/static-debian12:nonroot AS runtime
COPY --from=build /out/healthcheck /usr/local/bin/healthcheck
USER 65532:65532

FROM runtime AS coordinator
COPY --from=build /out/coordinator /usr/local/bin/coordinator
EXPOSE 7070
ENTRYPOINT ["/usr/local/bin/coordinator"]

FROM runtime AS order
COPY --from=build /out/order /usr/local/bin/order
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/order"]

FROM runtime AS inventory
COPY --from=build /out/inventory /usr/local/bin/inventory
EXPOSE 8081
ENTRYPOINT ["/usr/local/bin/inventory"]

FROM runtime AS payment
COPY --from=build /out/payment /usr/local/bin/payment
EXPOSE 8082
ENTRYPOINT ["/usr/local/bin/payment"]

FROM runtime AS quickstart
COPY --from=build /out/tccsuite /usr/local/bin/tccsuite
WORKDIR /home/nonroot
EXPOSE 7070 8080 8081 8082
ENTRYPOINT ["/usr/local/bin/tccsuite"]
