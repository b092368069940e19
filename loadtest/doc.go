// Package loadtest is govgate's load generator and benchmark scenarios.
//
// Not built yet: see the load test issue.
package loadtest
