//go:build race

package policy

// raceEnabled: under the race detector a decision costs ten times as much, so the
// differential tests decide fewer inputs (CI runs every test with -race).
const raceEnabled = true
