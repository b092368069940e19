package audit

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/govgate/govgate/crypto"
)

// Checkpoint is a C2SP tlog-checkpoint: the log's origin, its size and the root hash of
// that many records.
type Checkpoint struct {
	Origin string
	Size   uint64
	Root   []byte
}

// Marshal is the checkpoint body: three lines, origin, decimal size, base64 root.
func (c Checkpoint) Marshal() []byte {
	return fmt.Appendf(nil, "%s\n%d\n%s\n", c.Origin, c.Size, base64.StdEncoding.EncodeToString(c.Root))
}

func parseCheckpointBody(body []byte) (Checkpoint, error) {
	lines := strings.Split(string(body), "\n")
	if len(lines) < 4 || lines[len(lines)-1] != "" {
		return Checkpoint{}, errors.New("checkpoint: want origin, size and root lines")
	}
	var c Checkpoint
	c.Origin = lines[0]
	size, err := strconv.ParseUint(lines[1], 10, 64)
	if err != nil || strconv.FormatUint(size, 10) != lines[1] {
		return Checkpoint{}, fmt.Errorf("checkpoint: size %q", lines[1])
	}
	c.Size = size
	root, err := base64.StdEncoding.Strict().DecodeString(lines[2])
	if err != nil || len(root) != HashSize {
		return Checkpoint{}, fmt.Errorf("checkpoint: root %q", lines[2])
	}
	c.Root = root
	if c.Origin == "" {
		return Checkpoint{}, errors.New("checkpoint: empty origin")
	}
	return c, nil
}

// SignedCheckpoint is a checkpoint in a C2SP signed note, with the key that signed it.
type SignedCheckpoint struct {
	Checkpoint
	Note    []byte // the whole signed note, as served and stored
	KeyName string
	KeyID   string // hex of the 4-byte key ID
	// SignedAt is when this log signed it, or, for one read back at open, when the
	// checkpoints file was last written: the note itself carries no time.
	SignedAt time.Time
}

// noteSigType identifies govgate's SM2 signatures among signed-note signature types; the
// C2SP signed-note spec leaves types beyond its own to their definers.
const noteSigType = 0xff

// keyID is the first 4 bytes of SM3(name || "\n" || 0xff || "sm2" || public key point).
func keyID(name string, pub *crypto.PublicKey) [4]byte {
	b := []byte(name + "\n")
	b = append(b, noteSigType)
	b = append(b, "sm2"...)
	b = append(b, pointBytes(pub)...)
	sum := crypto.SM3(b)
	return [4]byte(sum[:4])
}

// pointBytes is the uncompressed point 04 || X || Y.
func pointBytes(pub *crypto.PublicKey) []byte {
	b := make([]byte, 65)
	b[0] = 4
	pub.X.FillBytes(b[1:33])
	pub.Y.FillBytes(b[33:])
	return b
}

// NoteSigner signs checkpoints with the gateway's SM2 audit key.
type NoteSigner struct {
	Name   string
	signer *crypto.Signer
	id     [4]byte
}

// NewNoteSigner returns a signer whose signatures carry name.
func NewNoteSigner(name string, key *crypto.PrivateKey) (*NoteSigner, error) {
	if name == "" || strings.ContainsAny(name, " \n+") {
		return nil, fmt.Errorf("audit key name %q: must be non-empty, without spaces, newlines or '+'", name)
	}
	s := crypto.NewSigner(key)
	return &NoteSigner{Name: name, signer: s, id: keyID(name, s.Public())}, nil
}

// Public returns the signer's public key.
func (s *NoteSigner) Public() *crypto.PublicKey { return s.signer.Public() }

// KeyID is the hex key ID.
func (s *NoteSigner) KeyID() string { return hex.EncodeToString(s.id[:]) }

// Sign returns the checkpoint as a signed note: body, blank line, one signature line
// "— <name> <base64(key ID || SM2 signature)>".
func (s *NoteSigner) Sign(c Checkpoint) (*SignedCheckpoint, error) {
	body := c.Marshal()
	sig, err := s.signer.Sign(body)
	if err != nil {
		return nil, fmt.Errorf("sign checkpoint: %w", err)
	}
	note := bytes.Clone(body)
	note = append(note, '\n')
	note = append(note, "— "...)
	note = append(note, s.Name...)
	note = append(note, ' ')
	note = append(note, base64.StdEncoding.EncodeToString(append(s.id[:], sig...))...)
	note = append(note, '\n')
	return &SignedCheckpoint{Checkpoint: c, Note: note, KeyName: s.Name, KeyID: s.KeyID()}, nil
}

// maxNote bounds a signed note a verifier reads.
const maxNote = 16 << 10

// OpenCheckpoint parses a signed checkpoint and verifies its signature with a key of keys
// valid for its size. Lines of other signers are ignored; one must be from keys.
func OpenCheckpoint(note []byte, keys *KeySet) (*SignedCheckpoint, error) {
	if len(note) > maxNote {
		return nil, errors.New("checkpoint: note too large")
	}
	body, sigs, ok := bytes.Cut(note, []byte("\n\n"))
	if !ok {
		return nil, errors.New("checkpoint: no signature block")
	}
	body = append(body, '\n')
	c, err := parseCheckpointBody(body)
	if err != nil {
		return nil, err
	}
	var lastErr error = errors.New("checkpoint: no signature by a known audit key")
	for _, line := range strings.Split(strings.TrimSuffix(string(sigs), "\n"), "\n") {
		rest, ok := strings.CutPrefix(line, "— ")
		if !ok {
			return nil, fmt.Errorf("checkpoint: malformed signature line %q", line)
		}
		name, b64, ok := strings.Cut(rest, " ")
		if !ok {
			return nil, fmt.Errorf("checkpoint: malformed signature line %q", line)
		}
		raw, err := base64.StdEncoding.Strict().DecodeString(b64)
		if err != nil || len(raw) < 5 {
			return nil, fmt.Errorf("checkpoint: malformed signature by %s", name)
		}
		id := hex.EncodeToString(raw[:4])
		k, err := keys.lookup(name, id, c.Size)
		if k == nil {
			continue
		}
		if err != nil {
			lastErr = fmt.Errorf("checkpoint of size %d signed by %s: %w", c.Size, name, err)
			continue
		}
		if err := k.verifier.Verify(body, raw[4:]); err != nil {
			return nil, fmt.Errorf("checkpoint of size %d: the signature by %s (key %s) does not verify", c.Size, name, id)
		}
		return &SignedCheckpoint{Checkpoint: c, Note: note, KeyName: name, KeyID: id}, nil
	}
	return nil, lastErr
}

// KeySet is the audit public keys and the part of the log each may sign: a rotated key
// signs checkpoints from the size at which it took over, and its predecessor's signatures
// stay valid for the sizes before.
type KeySet struct {
	Keys []KeyEntry `json:"keys"`
}

// KeyEntry is one audit key.
type KeyEntry struct {
	Name      string  `json:"name"`
	KeyID     string  `json:"key_id"`
	PublicKey string  `json:"public_key"` // PEM
	FromSize  uint64  `json:"from_size"`
	UntilSize *uint64 `json:"until_size,omitempty"` // nil: still signing

	verifier *crypto.Verifier
}

func (k *KeyEntry) covers(size uint64) error {
	if size < k.FromSize {
		return fmt.Errorf("key %s signs from size %d on", k.KeyID, k.FromSize)
	}
	if k.UntilSize != nil && size > *k.UntilSize {
		return fmt.Errorf("key %s was retired at size %d", k.KeyID, *k.UntilSize)
	}
	return nil
}

// lookup returns the entry for the key named name with key ID id that may sign a
// checkpoint of size. A key can have more than one entry (retired, then adopted again), so
// every entry with that name and ID is tried; when none covers size, the last one is
// returned with the reason. nil: no such key.
func (ks *KeySet) lookup(name, id string, size uint64) (*KeyEntry, error) {
	var found *KeyEntry
	var err error
	for i := range ks.Keys {
		k := &ks.Keys[i]
		if k.Name != name || k.KeyID != id {
			continue
		}
		if err = k.covers(size); err == nil {
			return k, nil
		}
		found = k
	}
	return found, err
}

// signing reports whether the key named name with key ID id has an entry still signing.
func (ks *KeySet) signing(name, id string) bool {
	for _, k := range ks.Keys {
		if k.Name == name && k.KeyID == id && k.UntilSize == nil {
			return true
		}
	}
	return false
}

// LoadKeySet reads a key set file and checks every entry's key ID against its key.
func LoadKeySet(path string) (*KeySet, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load audit keys %s: %w", path, err)
	}
	ks, err := ParseKeySet(b)
	if err != nil {
		return nil, fmt.Errorf("load audit keys %s: %w", path, err)
	}
	return ks, nil
}

// ParseKeySet decodes a key set.
func ParseKeySet(b []byte) (*KeySet, error) {
	var ks KeySet
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ks); err != nil {
		return nil, err
	}
	for i := range ks.Keys {
		k := &ks.Keys[i]
		pub, err := crypto.ParsePublicKeyPEM([]byte(k.PublicKey))
		if err != nil {
			return nil, fmt.Errorf("key %s: %w", k.Name, err)
		}
		if id := keyID(k.Name, pub); hex.EncodeToString(id[:]) != k.KeyID {
			return nil, fmt.Errorf("key %s: key_id %s does not match the key (%x)", k.Name, k.KeyID, id)
		}
		if k.verifier, err = crypto.NewVerifier(pub); err != nil {
			return nil, fmt.Errorf("key %s: %w", k.Name, err)
		}
	}
	return &ks, nil
}

// Save writes the key set (public keys only) to path.
func (ks *KeySet) Save(path string) error {
	b, err := json.MarshalIndent(ks, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// Adopt makes signer the key that signs from size on: if it is not yet in the set, the
// key signing until now is retired at size and the new one added.
func (ks *KeySet) Adopt(signer *NoteSigner, size uint64) (changed bool, err error) {
	if ks.signing(signer.Name, signer.KeyID()) {
		return false, nil
	}
	for i := range ks.Keys {
		if ks.Keys[i].UntilSize == nil {
			until := size
			ks.Keys[i].UntilSize = &until
		}
	}
	pemKey, err := crypto.MarshalPublicKeyPEM(signer.Public())
	if err != nil {
		return false, err
	}
	v, err := crypto.NewVerifier(signer.Public())
	if err != nil {
		return false, err
	}
	ks.Keys = append(ks.Keys, KeyEntry{Name: signer.Name, KeyID: signer.KeyID(), PublicKey: string(pemKey), FromSize: size, verifier: v})
	return true, nil
}
