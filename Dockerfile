# Build stage: a static binary (modernc.org/sqlite is pure Go, no cgo).
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/rewind ./cmd/rewind \
 && mkdir -p /out/data

# Run stage: distroless, non-root (distroless' "nonroot" user, 65532, which
# the Helm chart's security context names too), the data folder on a volume
# owned by that user; nothing else is written, so the root file system can
# be read-only (mount an emptyDir at /tmp).
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/rewind /usr/local/bin/rewind
COPY --from=build --chown=65532:65532 /out/data /data
ENV REWIND_ADDR=0.0.0.0:8080 REWIND_DATA_DIR=/data
VOLUME ["/data"]
EXPOSE 8080 9090
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/rewind"]
CMD ["serve"]
