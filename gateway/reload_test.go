package gateway_test

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	. "github.com/govgate/govgate/gateway"
)

// reloadRig is a gateway whose config is a real file, reloaded from it by
// ReloadFromSource (what SIGHUP calls) and by POST /reload on the real admin listener.
// Every section is filled in, so that a change to any of them is a change of a value.
type reloadRig struct {
	*testGateway
	path     string
	pop, ent *upstream
	log      *syncBuffer
}

func startReloadRig(t *testing.T) *reloadRig {
	t.Helper()
	pop, ent := startUpstream(t, nil), startUpstream(t, nil)
	dir := t.TempDir()
	cfg := testConfig(pop.addr)
	cfg.TLCP = TLCP{SignCert: filepath.Join(dir, "sign.pem"), SignKey: filepath.Join(dir, "sign.key"),
		EncCert: filepath.Join(dir, "enc.pem"), EncKey: filepath.Join(dir, "enc.key"), ClientCA: filepath.Join(dir, "ca.pem")}
	cfg.TLS = TLSConfig{Cert: filepath.Join(dir, "tls.pem"), Key: filepath.Join(dir, "tls.key"), ClientCA: filepath.Join(dir, "ca.pem")}
	cfg.Policy.Dir = filepath.Join(dir, "policy")
	cfg.Audit.Dir = filepath.Join(dir, "audit")
	cfg.Keys.Dir = filepath.Join(dir, "keys")
	cfg.ApplyDefaults()
	r := &reloadRig{path: filepath.Join(dir, "govgate.yaml"), pop: pop, ent: ent, log: &syncBuffer{}}
	r.write(t, cfg)
	loaded, err := LoadConfig(r.path)
	if err != nil {
		t.Fatal(err)
	}
	r.testGateway = startGateway(t, loaded, Options{
		Logger: slog.New(slog.NewTextHandler(r.log, nil)),
		Source: func() (*Config, error) { return LoadConfig(r.path) },
	})
	return r
}

func (r *reloadRig) write(t *testing.T, cfg *Config) {
	t.Helper()
	data, err := cfg.YAML()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(r.path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// edit rewrites the config file with change applied to what the file holds now.
func (r *reloadRig) edit(t *testing.T, change func(*Config)) {
	t.Helper()
	cfg, err := LoadConfig(r.path)
	if err != nil {
		t.Fatal(err)
	}
	change(cfg)
	r.write(t, cfg)
}

// shownConfig is GET /config on the admin listener.
func (r *reloadRig) shownConfig(t *testing.T) string {
	t.Helper()
	status, _, body := do(t, "GET", r.admin+"/config", "", nil)
	if status != 200 {
		t.Fatalf("GET /config: %d %s", status, body)
	}
	return string(body)
}

// postReload is POST /reload on the admin listener: the status, the error code and the
// fields of a restart_required answer.
func (r *reloadRig) postReload(t *testing.T) (status int, code string, fields []string) {
	t.Helper()
	status, _, body := do(t, "POST", r.admin+"/reload", "", nil)
	if status == 200 {
		return status, "", nil
	}
	var b ReloadRefusal
	if err := json.Unmarshal(body, &b); err != nil || b.Error.Code == "" || b.Error.Message == "" {
		t.Fatalf("POST /reload refusal is not a JSON error: %v: %s", err, body)
	}
	for _, f := range b.Error.Fields {
		if !strings.Contains(b.Error.Message, f) {
			t.Errorf("the message %q does not name %s", b.Error.Message, f)
		}
	}
	return status, b.Error.Code, b.Error.Fields
}

// served is the status of a GET through the ext listener and the upstream that answered.
func (r *reloadRig) served(t *testing.T, path string) (int, string) {
	t.Helper()
	status, _, body := do(t, "GET", r.base+path, "", nil)
	if status != 200 {
		return status, ""
	}
	return status, decodeEcho(t, body).Server
}

// assertRefused checks that the file as it is now is refused by both reload paths with
// exactly want named, in the error, the admin answer, the log and the metric, and that
// the config in force and its traffic are untouched.
func (r *reloadRig) assertRefused(t *testing.T, want []string) {
	t.Helper()
	before := r.shownConfig(t)
	errsBefore := r.ReloadErrors()

	err := r.ReloadFromSource()
	var restart *RestartRequiredError
	if !errors.As(err, &restart) {
		t.Fatalf("reload from source: %v, want a RestartRequiredError", err)
	}
	if !slices.Equal(restart.Fields, want) {
		t.Errorf("reload from source names %v, want %v", restart.Fields, want)
	}
	for _, f := range want {
		if !strings.Contains(err.Error(), f) {
			t.Errorf("error %q does not name %s", err, f)
		}
	}

	status, code, fields := r.postReload(t)
	if status != 409 || code != "restart_required" || !slices.Equal(fields, want) {
		t.Errorf("POST /reload: %d %s %v, want 409 restart_required %v", status, code, fields, want)
	}
	lines := r.log.lines("reload refused", "restart_only=")
	if len(lines) == 0 {
		t.Fatal("the refusal was not logged")
	}
	line := lines[len(lines)-1]
	for _, f := range want {
		if !strings.Contains(line, f) {
			t.Errorf("the log line does not name %s: %s", f, line)
		}
	}
	if n := r.ReloadErrors() - errsBefore; n != 2 {
		t.Errorf("reload error metric rose by %d, want 2", n)
	}
	if after := r.shownConfig(t); after != before {
		t.Errorf("GET /config changed after a refused reload:\n%s\nwas\n%s", after, before)
	}
	if status, server := r.served(t, "/population/v1/persons"); status != 200 || server != r.pop.addr {
		t.Errorf("traffic after a refused reload: %d from %s", status, server)
	}
}

// A change to each restart-only section is refused by both reload paths, naming every
// changed field; once the file is put back, the same gateway reloads it.
func TestReloadRefusesRestartOnlySections(t *testing.T) {
	r := startReloadRig(t)
	cases := []struct {
		section string
		change  func(*Config)
		want    []string
	}{
		{"gateway_id", func(c *Config) { c.GatewayID = "gw-other" }, []string{"gateway_id"}},
		{"admin", func(c *Config) {
			c.Admin.Address = "127.0.0.1:1"
			c.Admin.Hosts = []string{"gw1-admin.example"}
		}, []string{"admin.address", "admin.hosts"}},
		{"tlcp", func(c *Config) {
			c.TLCP.SignCert += ".new"
			c.TLCP.SignatureSkew = time.Minute
		}, []string{"tlcp.sign_cert", "tlcp.signature_skew"}},
		{"tls", func(c *Config) {
			c.TLS.ClientCRL = "/var/lib/govgate/tls-crl.pem"
			c.TLS.ACME.Domains = []string{"share.example"}
		}, []string{"tls.client_crl", "tls.acme.domains"}},
		{"policy", func(c *Config) {
			c.Policy.Dir += "-next"
			off := false
			c.Policy.Watch = &off
			c.Policy.CacheSize = -1
		}, []string{"policy.dir", "policy.watch", "policy.cache_size"}},
		{"audit", func(c *Config) {
			c.Audit.Origin = "govgate/elsewhere"
			c.Audit.Retention = time.Hour
			c.Audit.CommitDelay = 2 * time.Millisecond
		}, []string{"audit.origin", "audit.commit_delay", "audit.retention"}},
		{"keys", func(c *Config) {
			c.Keys.Dir += "-next"
			c.Keys.PollInterval = time.Minute
		}, []string{"keys.dir", "keys.poll_interval"}},
	}
	original, err := os.ReadFile(r.path)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		t.Run(c.section, func(t *testing.T) {
			r.edit(t, c.change)
			r.assertRefused(t, c.want)
			if err := os.WriteFile(r.path, original, 0o600); err != nil {
				t.Fatal(err)
			}
			if status, code, _ := r.postReload(t); status != 200 {
				t.Errorf("the original file again: %d %s", status, code)
			}
		})
	}
}

// A reload that changes a route and a restart-only field applies neither: the new route
// is not served, the old one is, and GET /config shows the old one.
func TestReloadMixedChangeIsRefusedWhole(t *testing.T) {
	r := startReloadRig(t)
	r.edit(t, func(c *Config) {
		c.Routes[0].PathPrefix = "/people/v1"
		c.Pools[0].Addresses = []string{r.ent.addr}
		c.Limits.MaxHeaderBytes = 1024
		c.Listeners = append(c.Listeners, Listener{Name: "int", Address: "127.0.0.1:0", Zone: ZoneInternal, Transport: TransportPlain})
		c.Audit.CheckpointInterval = 500 * time.Millisecond
	})
	r.assertRefused(t, []string{"audit.checkpoint_interval"})
	if status, _ := r.served(t, "/people/v1/persons"); status != 404 {
		t.Errorf("the refused route answers %d", status)
	}
	if r.ListenerAddr("int") != nil {
		t.Error("the refused config's listener was started")
	}
	if r.Config().Limits.MaxHeaderBytes != DefaultMaxHeaderBytes {
		t.Error("the refused config's limits are in force")
	}
}

// A listener whose transport was not set up at start cannot be added by a reload: the
// gateway would bind an address it cannot serve.
func TestReloadRefusesListenerWithTransportNotSetUp(t *testing.T) {
	r := startReloadRig(t)
	r.edit(t, func(c *Config) {
		c.Listeners = append(c.Listeners, Listener{Name: "tls", Address: "127.0.0.1:0", Zone: ZoneInternal, Transport: TransportTLS})
	})
	r.assertRefused(t, []string{"listeners[1].transport"})
	if r.ListenerAddr("tls") != nil {
		t.Error("a listener without its transport was started")
	}
}

// Each reloadable section takes effect on live traffic, and GET /config shows it.
func TestReloadAppliesReloadableSections(t *testing.T) {
	r := startReloadRig(t)
	reload := func(t *testing.T) {
		t.Helper()
		if status, code, fields := r.postReload(t); status != 200 {
			t.Fatalf("POST /reload: %d %s %v", status, code, fields)
		}
	}

	t.Run("routes", func(t *testing.T) {
		r.edit(t, func(c *Config) { c.Routes[0].PathPrefix = "/people/v1" })
		reload(t)
		if status, _ := r.served(t, "/people/v1/persons"); status != 200 {
			t.Errorf("new prefix: %d", status)
		}
		if status, _ := r.served(t, "/population/v1/persons"); status != 404 {
			t.Errorf("old prefix: %d", status)
		}
		if !strings.Contains(r.shownConfig(t), "path_prefix: /people/v1") {
			t.Error("GET /config does not show the new route")
		}
	})
	t.Run("pools", func(t *testing.T) {
		r.edit(t, func(c *Config) { c.Pools[0].Addresses = []string{r.ent.addr} })
		reload(t)
		if status, server := r.served(t, "/people/v1/persons"); status != 200 || server != r.ent.addr {
			t.Errorf("after moving the pool: %d from %s, want %s", status, server, r.ent.addr)
		}
		if !strings.Contains(r.shownConfig(t), r.ent.addr) {
			t.Error("GET /config does not show the new pool member")
		}
	})
	t.Run("limits", func(t *testing.T) {
		big := map[string]string{"X-Padding": strings.Repeat("a", 2000)}
		if status, _, _ := do(t, "GET", r.base+"/people/v1/persons", "", big); status != 200 {
			t.Fatalf("a 2 KB header before the change: %d", status)
		}
		r.edit(t, func(c *Config) { c.Limits.MaxHeaderBytes = 1024 })
		reload(t)
		r.base = "http://" + r.ListenerAddr("ext").String() // the listener restarted with the new limits
		hits := r.ent.hits.Load()
		if status, _, _ := do(t, "GET", r.base+"/people/v1/persons", "", big); status != 431 {
			t.Errorf("a 2 KB header over a 1 KB limit: %d, want 431", status)
		}
		if r.ent.hits.Load() != hits {
			t.Error("the refused request reached the provider")
		}
		if status, _ := r.served(t, "/people/v1/persons"); status != 200 {
			t.Errorf("a small request: %d", status)
		}
	})
	t.Run("listeners", func(t *testing.T) {
		r.edit(t, func(c *Config) {
			c.Listeners = append(c.Listeners, Listener{Name: "int", Address: "127.0.0.1:0", Zone: ZoneInternal, Transport: TransportPlain})
		})
		reload(t)
		addr := r.ListenerAddr("int")
		if addr == nil {
			t.Fatal("the added listener is not running")
		}
		if status, _, _ := do(t, "GET", "http://"+addr.String()+"/people/v1/persons", "", nil); status != 200 {
			t.Errorf("through the added listener: %d", status)
		}
		r.edit(t, func(c *Config) { c.Listeners = c.Listeners[:1] })
		reload(t)
		if r.ListenerAddr("int") != nil {
			t.Error("the removed listener is still registered")
		}
		if c, err := net.DialTimeout("tcp", addr.String(), time.Second); err == nil {
			c.Close()
			t.Error("the removed listener still accepts")
		}
	})
}
