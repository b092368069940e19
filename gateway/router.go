package gateway

import "bytes"

// router selects the route for a request. Validation guarantees that at most one route can
// match any host and path, so the scan order does not matter; route tables are short
// (tens of entries) and a scan of them costs less than hashing the host.
type router struct {
	routes []*routeEntry
}

// routeEntry is a route with what the hot path needs resolved in advance.
type routeEntry struct {
	Route
	host    []byte // Host as bytes, so matching does not convert per request
	pool    *pool
	metrics *routeMetrics
	release *releaseMemory // the gateway's release budget, for the release stage
}

func (r *router) match(host, path []byte) *routeEntry {
	host = stripPort(host)
	for _, e := range r.routes {
		if len(e.host) > 0 && !bytes.EqualFold(host, e.host) {
			continue
		}
		if prefixMatches(e.PathPrefix, path) {
			return e
		}
	}
	return nil
}

// stripPort removes ":port" from a Host header value, leaving IPv6 literals intact.
func stripPort(host []byte) []byte {
	if len(host) > 0 && host[0] == '[' {
		if i := bytes.IndexByte(host, ']'); i > 0 {
			return host[1:i]
		}
		return host
	}
	if i := bytes.LastIndexByte(host, ':'); i >= 0 {
		return host[:i]
	}
	return host
}
