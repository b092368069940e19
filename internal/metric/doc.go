// Package metric holds what every part that adds to /metrics shares when it builds
// Prometheus metrics at scrape time from counters it keeps itself: a constant metric that
// carries its error to the registry instead of panicking inside a scrape.
package metric
