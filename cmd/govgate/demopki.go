package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/emmansun/gmsm/smx509"

	"github.com/govgate/govgate/certs"
	"github.com/govgate/govgate/crypto"
)

// demoDepartment is a consumer the demo issues a certificate pair to.
type demoDepartment struct {
	file, dept, system string
}

func demoDepartments() []demoDepartment {
	return []demoDepartment{
		{"rensheju", "110000-rensheju", "social-insurance-check"}, // 人力资源和社会保障局
		{"shuiwu", "110000-shuiwu", "tax-registration"},           // 税务局
	}
}

// demoPKI is the demo's SM2 CA, the gateway's TLCP pair and the departments' pairs, kept
// under the data directory so that the printed `govgate call` commands work across runs.
type demoPKI struct {
	dir string
}

func (p *demoPKI) path(name string) string { return filepath.Join(p.dir, name) }

// ensureDemoPKI loads the demo PKI from dir, creating it on first start.
func ensureDemoPKI(dir string) (*demoPKI, error) {
	p := &demoPKI{dir: dir}
	if _, err := os.Stat(p.path("ca.pem")); errors.Is(err, fs.ErrNotExist) {
		if err := p.create(); err != nil {
			return nil, fmt.Errorf("demo PKI in %s: %w", dir, err)
		}
	}
	return p, nil
}

func (p *demoPKI) create() error {
	if err := os.MkdirAll(p.dir, 0o700); err != nil {
		return err
	}
	ca, err := certs.NewRootCA("govgate demo SM2 root", "govgate demo", 10*365*24*time.Hour)
	if err != nil {
		return err
	}
	if err := writeCert(p.path("ca.pem"), ca.Cert); err != nil {
		return err
	}
	if err := writeKey(p.path("ca.key"), ca.Key); err != nil {
		return err
	}
	gw, err := ca.IssuePair(certs.PairRequest{System: "gw-demo-01", DNSNames: []string{"localhost"}, Server: true})
	if err != nil {
		return err
	}
	if err := writePair(p, "gateway", gw); err != nil {
		return err
	}
	for _, d := range demoDepartments() {
		pair, err := ca.IssuePair(certs.PairRequest{Dept: d.dept, System: d.system})
		if err != nil {
			return err
		}
		if err := writePair(p, d.file, pair); err != nil {
			return err
		}
	}
	return nil
}

func writePair(p *demoPKI, name string, pair *certs.Pair) error {
	for _, f := range []struct {
		suffix string
		cert   *smx509.Certificate
		key    *crypto.PrivateKey
	}{{"sign", pair.SignCert, pair.SignKey}, {"enc", pair.EncCert, pair.EncKey}} {
		if err := writeCert(p.path(name+"-"+f.suffix+".pem"), f.cert); err != nil {
			return err
		}
		if err := writeKey(p.path(name+"-"+f.suffix+".key"), f.key); err != nil {
			return err
		}
	}
	return nil
}

func writeCert(path string, c *smx509.Certificate) error {
	return os.WriteFile(path, crypto.MarshalCertificatePEM(c), 0o644)
}

func writeKey(path string, k *crypto.PrivateKey) error {
	data, err := crypto.MarshalPrivateKeyPEM(k, nil)
	if err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o600)
}
