// Package wire is the one home of govgate's wire contract: the names of the header fields
// the gateway exchanges with consumers and providers, the RFC 9421 profile a consumer
// signs requests under (label, algorithm, covered components), and the function that
// builds the signature base of a request.
//
// The client signs, the gateway verifies, the load generator sends and `audit verify`
// re-checks with these same names and this same base; if any of them spelled a name or
// built the base its own way, every signed request would fail, or an audit would pass
// what the gateway refused. A test of this package fails when a header name reappears as a
// string literal anywhere else in the module.
//
// wire imports nothing of govgate's, so that every package, crypto included, may import it.
package wire
