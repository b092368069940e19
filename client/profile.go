package client

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// The environment variables a department's credentials may come from, as curl reads
// CURL_CA_BUNDLE: below a flag, above a profile.
const (
	EnvCA          = "GOVGATE_CA"
	EnvCert        = "GOVGATE_CERT"
	EnvKey         = "GOVGATE_KEY"
	EnvProfile     = "GOVGATE_PROFILE"      // the profile's name, when --profile is not given
	EnvProfileFile = "GOVGATE_PROFILE_FILE" // the profile file, instead of the default path
)

// Profile is one department identity's settings for calling a gateway: the files
// `govgate call` otherwise takes as --ca, --cert, --key.
type Profile struct {
	CA         string `yaml:"ca"`           // PEM of the CA(s) the gateway's certificate chains to
	Cert       string `yaml:"cert"`         // SIGN.pem,ENC.pem
	Key        string `yaml:"key"`          // SIGN.key,ENC.key
	KeyPassEnv string `yaml:"key_pass_env"` // variable holding the keys' password
	ServerName string `yaml:"server_name"`  // name the gateway's certificate must carry
	AuditKeys  string `yaml:"audit_keys"`   // the kept-apart copy of the gateway's keys.json
}

// ProfileFile is the profile file: named profiles and the one used when none is named.
//
//	default: shuiwu
//	profiles:
//	  shuiwu: {ca: ca.pem, cert: "a-sign-fullchain.pem,a-enc-fullchain.pem", key: "a-sign.key,a-enc.key"}
//
// Relative paths are relative to the file's directory.
type ProfileFile struct {
	Default  string             `yaml:"default"`
	Profiles map[string]Profile `yaml:"profiles"`
}

// DefaultProfilePath is $GOVGATE_PROFILE_FILE, else govgate/profile.yaml under the user's
// configuration directory (~/.config on Linux).
func DefaultProfilePath() (string, error) {
	if p := os.Getenv(EnvProfileFile); p != "" {
		return p, nil
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("profile file: %w", err)
	}
	return filepath.Join(dir, "govgate", "profile.yaml"), nil
}

// LoadProfile reads profile name from the file at path; name "" is the file's default.
// A missing file is no profile when none is named, and an error when one is.
func LoadProfile(path, name string) (Profile, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) && name == "" {
		return Profile{}, nil
	}
	if err != nil {
		return Profile{}, fmt.Errorf("profile %q: %w", name, err)
	}
	var f ProfileFile
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return Profile{}, fmt.Errorf("profile file %s: %w", path, err)
	}
	if name == "" {
		name = f.Default
	}
	if name == "" {
		return Profile{}, nil
	}
	p, ok := f.Profiles[name]
	if !ok {
		names := make([]string, 0, len(f.Profiles))
		for n := range f.Profiles {
			names = append(names, n)
		}
		sort.Strings(names)
		return Profile{}, fmt.Errorf("profile file %s has no profile %q (it has %s)", path, name, strings.Join(names, ", "))
	}
	dir := filepath.Dir(path)
	p.CA, p.Cert, p.Key, p.AuditKeys = relTo(dir, p.CA), relTo(dir, p.Cert), relTo(dir, p.Key), relTo(dir, p.AuditKeys)
	return p, nil
}

// relTo makes each of a comma-separated list of paths relative to dir when it is not
// absolute.
func relTo(dir, list string) string {
	if list == "" {
		return ""
	}
	parts := strings.Split(list, ",")
	for i, p := range parts {
		if p = strings.TrimSpace(p); p != "" && !filepath.IsAbs(p) {
			parts[i] = filepath.Join(dir, p)
		}
	}
	return strings.Join(parts, ",")
}
