package fleet

import (
	"bytes"
	"fmt"
	"os"

	"go.yaml.in/yaml/v3"
)

// File is fleet.yaml: the gateways to look at.
//
//	gateways:
//	  - {name: gw-a, admin: "http://127.0.0.1:9090"}
//	  - {name: gw-b, admin: "https://10.0.0.2:9443"}
type File struct {
	Gateways []Gateway `yaml:"gateways"`
}

// LoadFile reads a fleet file; every gateway needs an admin URL, names default to it.
func LoadFile(path string) ([]Gateway, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load fleet %s: %w", path, err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var f File
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("load fleet %s: %w", path, err)
	}
	if len(f.Gateways) == 0 {
		return nil, fmt.Errorf("load fleet %s: no gateways", path)
	}
	for i := range f.Gateways {
		if f.Gateways[i].Admin == "" {
			return nil, fmt.Errorf("load fleet %s: gateway %d has no admin URL", path, i+1)
		}
		if f.Gateways[i].Name == "" {
			f.Gateways[i].Name = f.Gateways[i].Admin
		}
	}
	return f.Gateways, nil
}
