package keys

import (
	"context"
	"fmt"

	"github.com/govgate/govgate/crypto"
)

// PutNewSM2Key generates an SM2 key and stores it as the next version of name, as PKCS#8
// PEM (encrypted with password when one is given). Key rotation and a gateway's first start
// both make keys this way, so that a rotated key and a first key are the same kind of thing.
func PutNewSM2Key(ctx context.Context, store Store, name string, password []byte) (*Version, error) {
	key, err := crypto.GenerateKey()
	if err != nil {
		return nil, fmt.Errorf("new key %s: %w", name, err)
	}
	pemKey, err := crypto.MarshalPrivateKeyPEM(key, password)
	if err != nil {
		return nil, fmt.Errorf("new key %s: %w", name, err)
	}
	return store.Put(ctx, name, pemKey)
}
