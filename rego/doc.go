// Package rego holds the Rego policies govgate ships, their _test.rego files and example
// data, embedded so that the gateway has a default policy without any file on disk.
//
// Not built yet: see the policy issue.
package rego
