package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/govgate/govgate/certs"
	"github.com/govgate/govgate/crypto"
	"github.com/govgate/govgate/keys"
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

// demoPKI is the demo's SM2 CA (a CA directory, as `govgate ca init` makes), the gateway's
// TLCP pair in the key store, the departments' pairs as files, and the CRL — kept under
// the data directory so that the printed commands work across runs, and so that the
// certs commands rotate and revoke while the demo runs.
type demoPKI struct {
	dir string
}

func (p *demoPKI) path(name string) string { return filepath.Join(p.dir, name) }

// ensureDemoPKI loads the demo PKI from dir, creating it on first start.
func ensureDemoPKI(ctx context.Context, dir string) (*demoPKI, error) {
	p := &demoPKI{dir: dir}
	_, err := os.Stat(p.path("ca/ca.pem"))
	if err == nil {
		return p, p.ensureDepartmentFiles()
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if _, err := os.Stat(p.path("ca.pem")); err == nil {
		return nil, fmt.Errorf("%s holds demo data of an older govgate; remove it (or pass another --data-dir) and start again", dir)
	}
	if err := p.create(ctx); err != nil {
		return nil, fmt.Errorf("demo PKI in %s: %w", dir, err)
	}
	return p, nil
}

func (p *demoPKI) create(ctx context.Context) error {
	if err := os.MkdirAll(p.dir, 0o700); err != nil {
		return err
	}
	ca, err := certs.InitDir(p.path("ca"), "govgate demo SM2 root", "govgate demo", 10*365*24*time.Hour, nil, nil)
	if err != nil {
		return err
	}
	store, err := keys.NewFileStore(p.path("keys"))
	if err != nil {
		return err
	}
	gw, err := ca.Issue(certs.PairRequest{System: "gw-demo-01", DNSNames: []string{"localhost"}, Server: true})
	if err != nil {
		return err
	}
	sign, enc, err := ca.Bundles(gw)
	if err != nil {
		return err
	}
	if _, err := store.Put(ctx, "tlcp-sign", sign); err != nil {
		return err
	}
	if _, err := store.Put(ctx, "tlcp-enc", enc); err != nil {
		return err
	}
	for _, d := range demoDepartments() {
		if err := p.issueDepartment(ca, d); err != nil {
			return err
		}
	}
	crl, _, err := ca.CRL(7 * 24 * time.Hour)
	if err != nil {
		return err
	}
	return os.WriteFile(p.path("crl.pem"), crl, 0o644)
}

// issueDepartment issues a department's pair and writes its files.
func (p *demoPKI) issueDepartment(ca *certs.Dir, d demoDepartment) error {
	pair, err := ca.Issue(certs.PairRequest{Dept: d.dept, System: d.system})
	if err != nil {
		return err
	}
	return ca.WritePairFiles(p.dir, d.file, pair, nil)
}

// ensureDepartmentFiles issues a pair to each department whose files are missing: data
// directories of a govgate that wrote <file>-sign.pem (leaf and root in one file) lack the
// fullchain files the printed commands name.
func (p *demoPKI) ensureDepartmentFiles() error {
	var ca *certs.Dir
	for _, d := range demoDepartments() {
		if _, err := os.Stat(certs.PairFile(p.dir, d.file, "enc", certs.KeySuffix)); err == nil {
			if _, err := os.Stat(certs.PairFile(p.dir, d.file, "sign", certs.FullchainSuffix)); err == nil {
				continue
			}
		}
		if ca == nil {
			var err error
			if ca, err = certs.OpenDir(p.path("ca"), nil); err != nil {
				return fmt.Errorf("demo PKI in %s: %w", p.dir, err)
			}
		}
		if err := p.issueDepartment(ca, d); err != nil {
			return fmt.Errorf("demo PKI in %s: %w", p.dir, err)
		}
	}
	return nil
}

// serialOf is the hex serial of a certificate file under the data directory, or a
// placeholder when it cannot be read.
func (p *demoPKI) serialOf(name string) string {
	b, err := os.ReadFile(p.path(name))
	if err != nil {
		return "SERIAL"
	}
	certs, err := crypto.ParseCertificatesPEM(b)
	if err != nil {
		return "SERIAL"
	}
	return certs[0].SerialNumber.Text(16)
}
