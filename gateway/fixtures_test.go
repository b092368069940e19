package gateway

import (
	"bytes"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
)

// Fixtures shared by this package's tests and the end-to-end tests of package
// gateway_test (which run the stage adapters, and so cannot be in this package: the
// adapters import it). bridge_test.go gives them their names there.

const taxpayerJSON = `{"taxpayer_id":"91110108MA01A2B3C4","name":"北京数联科技有限公司","tax_status":"正常","credit_rating":"A","bank_account":"6222020200112233445"}`

// gzipBomb is a gzip body of n MiB of spaces (valid JSON whitespace, so only the size is
// wrong with it) in about n KiB: one member of 1 MiB, repeated — a gzip stream may hold
// members one after another, and decoders read them all.
func gzipBomb(t testing.TB, mib int) []byte {
	t.Helper()
	var member bytes.Buffer
	w, _ := gzip.NewWriterLevel(&member, gzip.BestCompression)
	w.Write(bytes.Repeat([]byte(" "), 1<<20))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return bytes.Repeat(member.Bytes(), mib)
}

// testConfig is a one-listener, one-route config for pools on the given upstreams.
func testConfig(addrs ...string) *Config {
	cfg := &Config{
		GatewayID: "gw-test",
		Admin:     Admin{Address: "127.0.0.1:0"},
		Listeners: []Listener{{Name: "ext", Address: "127.0.0.1:0", Zone: ZoneExternal, Transport: TransportPlain}},
		Routes: []Route{{
			ID: "population-query", PathPrefix: "/population/v1", Resource: "population.basic",
			Mode: ModeQuery, Pool: "population", TargetZone: ZoneInternal, Timeout: 2 * time.Second,
		}},
		Pools: []Pool{{ID: "population", Addresses: addrs}},
	}
	cfg.applyDefaults()
	return cfg
}

// ConfigForTest is testConfig for gateway_test.
func ConfigForTest(addrs ...string) *Config { return testConfig(addrs...) }

// TaxpayerJSON and GzipBomb are the fixtures under the names gateway_test reads.
const TaxpayerJSON = taxpayerJSON

// GzipBomb is gzipBomb for gateway_test.
func GzipBomb(t testing.TB, mib int) []byte { return gzipBomb(t, mib) }
