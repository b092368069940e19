package certs

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/emmansun/gmsm/smx509"

	"github.com/govgate/govgate/crypto"
)

// TestWritePairFiles: for a pair issued by an intermediate and one issued by a root, each
// use gets cert.pem (the leaf alone), chain.pem (the CAs above it without the root),
// fullchain.pem (leaf then chain) and a 0600 key that matches the certificate; no file
// holds the root.
func TestWritePairFiles(t *testing.T) {
	tmp := t.TempDir()
	root, err := InitDir(filepath.Join(tmp, "root"), "Root", "govgate", 24*time.Hour, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	inter, err := InitDir(filepath.Join(tmp, "inter"), "Inter", "govgate", 24*time.Hour, root, nil)
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		ca        *Dir
		wantChain []*smx509.Certificate
	}{
		"by the intermediate": {inter, []*smx509.Certificate{inter.CA.Cert}},
		"by the root":         {root, nil},
	} {
		out := filepath.Join(tmp, "out-"+name)
		p, err := c.ca.Issue(PairRequest{Dept: "110000-x", System: "s"})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.ca.WritePairFiles(out, "x", p, nil); err != nil {
			t.Fatal(err)
		}
		for use, leaf := range map[string]*smx509.Certificate{"sign": p.SignCert, "enc": p.EncCert} {
			checkCertFiles(t, name+" "+use, out, use, leaf, c.wantChain, root.CA.Cert)
			key, err := loadKeyFile(t, PairFile(out, "x", use, KeySuffix), nil)
			if err != nil {
				t.Fatalf("%s %s: %v", name, use, err)
			}
			if pub, _ := crypto.SM2PublicKey(leaf); !pub.Equal(&key.PublicKey) {
				t.Errorf("%s %s: the key is not the certificate's", name, use)
			}
		}
	}
}

// checkCertFiles checks the three certificate files of one use.
func checkCertFiles(t *testing.T, name, out, use string, leaf *smx509.Certificate, chain []*smx509.Certificate, root *smx509.Certificate) {
	t.Helper()
	full := append([]*smx509.Certificate{leaf}, chain...)
	for suffix, want := range map[string][]*smx509.Certificate{CertSuffix: {leaf}, ChainSuffix: chain, FullchainSuffix: full} {
		path := PairFile(out, "x", use, suffix)
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if st, _ := os.Stat(path); st.Mode().Perm() != 0o644 {
			t.Errorf("%s %s: mode %o", name, suffix, st.Mode().Perm())
		}
		var wantPEM []byte
		for _, c := range want {
			wantPEM = append(wantPEM, crypto.MarshalCertificatePEM(c)...)
		}
		if !bytes.Equal(b, wantPEM) {
			t.Errorf("%s %s: %d bytes, not the %d certificates wanted", name, suffix, len(b), len(want))
		}
		if bytes.Contains(b, crypto.MarshalCertificatePEM(root)) {
			t.Errorf("%s %s holds the root", name, suffix)
		}
	}
}

// loadKeyFile reads a key file, checking that only its owner can read it.
func loadKeyFile(t *testing.T, path string, password []byte) (*crypto.PrivateKey, error) {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("%s: mode %o, want 0600", path, st.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return crypto.ParsePrivateKeyPEM(b, password)
}

// TestWritePairFilesEncryptedAndOverwrite: with a password the keys are encrypted; a key
// file left 0644 by someone is replaced by a 0600 one.
func TestWritePairFilesEncryptedAndOverwrite(t *testing.T) {
	tmp := t.TempDir()
	ca, err := InitDir(filepath.Join(tmp, "ca"), "CA", "govgate", 24*time.Hour, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := ca.Issue(PairRequest{System: "s"})
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(tmp, "out")
	os.MkdirAll(out, 0o700)
	os.WriteFile(PairFile(out, "x", "sign", KeySuffix), []byte("old"), 0o644)
	if err := ca.WritePairFiles(out, "x", p, []byte("pw")); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(PairFile(out, "x", "sign", KeySuffix))
	if !bytes.Contains(b, []byte("ENCRYPTED PRIVATE KEY")) {
		t.Fatal("a password was given and the key is not encrypted")
	}
	if _, err := loadKeyFile(t, PairFile(out, "x", "sign", KeySuffix), []byte("pw")); err != nil {
		t.Fatal(err)
	}
	if matches, _ := filepath.Glob(filepath.Join(out, "*.tmp")); len(matches) != 0 {
		t.Errorf("temporary files left: %v", matches)
	}
}

// TestWritePairFilesAllOrNothing: when one file of the set cannot be written (its
// temporary name is taken by a directory), no file of the old set is replaced and no
// temporary file is left: never a new key beside an old certificate.
func TestWritePairFilesAllOrNothing(t *testing.T) {
	tmp := t.TempDir()
	ca, err := InitDir(filepath.Join(tmp, "ca"), "CA", "govgate", 24*time.Hour, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(tmp, "out")
	old, _ := ca.Issue(PairRequest{System: "s"})
	if err := ca.WritePairFiles(out, "x", old, nil); err != nil {
		t.Fatal(err)
	}
	before := map[string][]byte{}
	for _, f := range PairFiles(out, "x") {
		before[f], _ = os.ReadFile(f)
	}
	if got := ExistingPairFiles(out, "x"); len(got) != 8 {
		t.Fatalf("existing: %v", got)
	}
	blocker := PairFile(out, "x", "enc", KeySuffix) + ".tmp"
	os.MkdirAll(filepath.Join(blocker, "busy"), 0o700)
	p, _ := ca.Issue(PairRequest{System: "s"})
	if err := ca.WritePairFiles(out, "x", p, nil); err == nil {
		t.Fatal("the blocked write succeeded")
	}
	for f, b := range before {
		if now, _ := os.ReadFile(f); !bytes.Equal(now, b) {
			t.Errorf("%s changed by a failed write", f)
		}
	}
	os.RemoveAll(blocker)
	if matches, _ := filepath.Glob(filepath.Join(out, "*.tmp")); len(matches) != 0 {
		t.Errorf("temporary files left: %v", matches)
	}
	if got := ExistingPairFiles(filepath.Join(tmp, "none"), "x"); len(got) != 0 {
		t.Errorf("existing in an absent directory: %v", got)
	}
}
