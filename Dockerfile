# The hub as a container image: docker build -t ssehub . && docker run -p 8080:8080 ssehub
#
# Two stages: a static binary built with the Go toolchain, then an image
# that holds only that binary (distroless: no shell, no package manager, no
# curl; the health check is the binary's own `ssehub healthcheck`). The
# build context includes .git, so `ssehub version` names the commit.

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/ssehub ./cmd/ssehub \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/ssehub /usr/local/bin/ssehub
# The data folder belongs to the user the hub runs as, so a fresh volume
# mounted there starts writable.
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
ENV SSEHUB_LISTEN=:8080 \
    SSEHUB_STORE=file:/data \
    SSEHUB_DEMO=false
VOLUME /data
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=5s --start-period=5s --retries=3 \
  CMD ["/usr/local/bin/ssehub", "healthcheck"]
# SIGTERM starts the graceful shutdown (--shutdown-timeout, 10s by default).
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/ssehub"]
CMD ["serve"]
