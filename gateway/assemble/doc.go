// Package assemble builds a whole gateway from a validated config: the key store, the
// TLCP and TLS transports with their certificate sources, the stages of the pipeline
// (identity, policy, audit), their admin endpoints and metrics, and the watchers that keep
// keys, certificates and policy current — with one Close that releases all of it in
// reverse order. govgate serve, govgate demo, the benchmark and the end-to-end tests all
// run the gateway it builds, so that what is measured and tested is what is deployed.
//
// A part that cannot be built releases every part built before it: a gateway is either
// whole or nothing is left running.
package assemble
