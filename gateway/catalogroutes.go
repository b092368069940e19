package gateway

import (
	"encoding/json"
)

// catalogRoute is where a catalog resource is called: what the policy's catalog cannot
// say, since the routes are the gateway's config.
type catalogRoute struct {
	Host              string `json:"host,omitempty"` // empty: any host of the listener
	Path              string `json:"path"`           // the route's path prefix
	Mode              Mode   `json:"mode"`
	SignatureRequired bool   `json:"signature_required"`
}

// addCatalogRoutes adds to each entry of a served catalog ({"resources": [{"id": …}]}) the
// routes that reach its resource ("routes") and whether there is one ("routed": false
// marks a resource listed but not yet callable here). A body of another shape (a policy's
// own catalog) is left as it is.
func addCatalogRoutes(body []byte, routes []*routeEntry) []byte {
	var doc map[string]json.RawMessage
	if json.Unmarshal(body, &doc) != nil {
		return body
	}
	var resources []map[string]json.RawMessage
	if json.Unmarshal(doc["resources"], &resources) != nil {
		return body
	}
	for _, r := range resources {
		var id string
		if json.Unmarshal(r["id"], &id) != nil {
			return body
		}
		found := []catalogRoute{}
		for _, e := range routes {
			if e.Resource == id {
				found = append(found, catalogRoute{Host: e.Host, Path: e.PathPrefix, Mode: e.Mode, SignatureRequired: e.RequireSignature})
			}
		}
		r["routes"], _ = json.Marshal(found)
		r["routed"], _ = json.Marshal(len(found) > 0)
	}
	b, err := json.Marshal(resources)
	if err != nil {
		return body
	}
	doc["resources"] = b
	out, err := json.Marshal(doc)
	if err != nil {
		return body
	}
	return out
}
