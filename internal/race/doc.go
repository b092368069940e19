// Package race tells tests whether the race detector is compiled in. The detector changes
// what allocates (sync.Pool drops items at random, instrumented code escapes more), so a
// test that counts allocations measures only without it.
package race
