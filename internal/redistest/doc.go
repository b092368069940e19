// Package redistest starts a real `redis-server` (and `redis-sentinel`) from the Debian
// packages on PATH, on free loopback ports in a test's temp dir, for the tests of the
// shared state. It is not a fake: tests that use it talk to Redis itself, and can stop and
// restart it to test what a gateway does while Redis is gone.
package redistest
