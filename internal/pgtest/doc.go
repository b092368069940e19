// Package pgtest starts a real PostgreSQL server (the Debian postgresql package's
// binaries: initdb, postgres) on 127.0.0.1 for tests, in a temporary directory, and gives
// each test a database of its own. It is not a fake: the tests that use it talk to
// PostgreSQL itself.
//
// A test package starts one server in TestMain (Start) and asks it for a fresh database
// per test (Server.Database). PostgreSQL refuses to run as root: when the tests run as
// root, the server runs as the postgres system user, its directory chowned to it. When
// the binaries are missing or the server does not start, the tests skip loudly — or fail,
// when GOVGATE_REQUIRE_SERVICES=1 (for CI, where PostgreSQL must run).
package pgtest
