// Package loadtest is govgate's load generator: closed loop (N connections, each sending
// as soon as its answer arrives) and open loop (a fixed rate, latency measured from the
// moment each request was due, so that a stalled server cannot hide behind requests that
// were never sent — no coordinated omission), over plain HTTP, standard TLS or TLCP with
// SM2-signed requests, with latency in an HDR histogram.
//
// The benchmark — govgate as gateway/assemble builds it, against a bare proxy, nginx, and
// nginx with auth_request to the stock OPA server over plain HTTP and over TLS, in one
// run — is the command in loadtest/bench.
package loadtest
