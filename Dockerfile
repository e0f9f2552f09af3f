# Build stage: a static binary (modernc.org/sqlite is pure Go, no cgo).
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/rewind ./cmd/rewind

# Run stage: distroless, non-root, the data folder on a volume.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/rewind /usr/local/bin/rewind
ENV REWIND_ADDR=0.0.0.0:8080 REWIND_DATA_DIR=/data
VOLUME ["/data"]
EXPOSE 8080
USER nonroot:nonroot
ENTRYPOINT ["/usr/local/bin/rewind"]
CMD ["serve"]
