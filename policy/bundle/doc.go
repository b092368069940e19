// Package bundle carries one policy revision to every gateway of a fleet: it builds a
// policy directory into an OPA bundle (the layout `opa build` writes: .manifest with the
// revision, data.json, the .rego files, gzipped tar), signs the bundle with a security
// officer's SM2 certificate in a detached signature file, verifies that signature against
// the configured CAs before a byte of the bundle is unpacked, and polls an HTTP bundle
// server with ETag / If-None-Match as OPA's bundle plugin does, handing each verified
// bundle to the policy engine's reload path (compile, run the policy's tests, go live only
// if all pass).
//
// The signature is detached (bundle.tar.gz.sig beside bundle.tar.gz) rather than OPA's
// .signatures.json inside the tarball: it covers the exact bytes served, so a gateway
// checks it before gunzip and untar ever see a peer's bytes, and it carries the signer's
// certificate chain, which OPA's JWT-based format has no place for.
package bundle
