package keys

import "time"

// Listing is the body of the admin API's GET /keys, read by govgate fleet status: the
// store a gateway uses and, per key, its latest version and the version the gateway uses.
// Names, numbers and times only: key material never leaves the store this way.
type Listing struct {
	// Store names the store without credentials, so that gateways on one store can be
	// compared: file:DIR or vault:ADDRESS/MOUNT/PREFIX.
	Store string   `json:"store"`
	Keys  []KeyUse `json:"keys"`
}

// KeyUse is one key of a Listing. InUse is 0 when no part of the gateway uses the key.
type KeyUse struct {
	Name         string    `json:"name"`
	Latest       int       `json:"latest"`
	Created      time.Time `json:"created"` // the latest version's
	InUse        int       `json:"in_use,omitempty"`
	InUseCreated time.Time `json:"in_use_created,omitzero"`
}
