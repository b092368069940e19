package bundle_test

import (
	"time"

	"github.com/govgate/govgate/certs"
	"github.com/govgate/govgate/policy/bundle"
	"github.com/govgate/govgate/policy/bundle/bundletest"
)

func certsRequest(cn, role string) certs.PairRequest {
	return certs.PairRequest{System: cn, Dept: "sec", Roles: []string{role}, ValidFor: 12 * time.Hour}
}

func signFile(b, cert, key string, now time.Time) (string, error) {
	return bundle.SignFile(b, cert, key, bundletest.Audience, nil, now)
}
