// Package nacos is Rewind's adapter to Nacos config servers: it reads, publishes and deletes
// configs, reads their history, follows their changes, and turns Nacos history and Rewind's
// snapshots into versions.
//
// A Client detects the server's major version and uses what that version offers:
//   - Nacos 2.x and 3.x: reads and writes through nacos-sdk-go v2 over gRPC (HTTP port +
//     1000), with the SDK's snapshot fallback off so a server error is never hidden behind a
//     stale local copy; history over the HTTP API (v2 from 2.2 on, else v1; v3 on 3.x, where
//     the older endpoints answer 410).
//   - Nacos 1.x: reads, listings and history over the v1 HTTP API only. 1.x has no
//     compare-and-swap publish, so Publish and Delete return ErrReadOnly.
//
// Nacos' history stores a U row with the content before the update; Versions turns rows into
// the content each version really had. Merge joins those versions with Rewind's snapshots.
//
// Errors name the server and the operation and wrap ErrUnreachable, ErrLoginRefused,
// ErrForbidden, ErrUnexpectedAnswer, ErrConflict, ErrEmptyContent or ErrReadOnly. The password
// is only ever sent to the server (Rewind's login and the SDK's); access tokens travel in
// headers and appear in no error.
package nacos
