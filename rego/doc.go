// Package rego holds the Rego policies govgate ships, their _test.rego files and example
// data, embedded so that the gateway has a default policy without any file on disk.
//
// The directory is laid out the way the opa command line expects, so `opa test rego/` and
// `opa eval -d rego/` work on it unchanged: the policies live in authz/ (package
// govgate.authz, the decision) and catalog/ (package govgate.catalog, what a department may
// see), and the data documents security officers edit sit at the top, one per file:
// labels.yaml, zones.yaml, departments.yaml, catalog.yaml, agreements.yaml and modes.yaml
// (the HTTP methods each sharing mode allows).
package rego
