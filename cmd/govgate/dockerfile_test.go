package main

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/govgate/govgate/gateway"
)

// dockerInstruction is one Dockerfile instruction, continuation lines joined.
type dockerInstruction struct {
	cmd   string // upper case: FROM, RUN, COPY, …
	args  string
	stage int // index of the FROM it belongs to
}

func readDockerfile(t *testing.T, p string) []dockerInstruction {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var out []dockerInstruction
	stage := -1
	var cur string
	sc := bufio.NewScanner(strings.NewReader(string(data)))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if cur == "" && (line == "" || strings.HasPrefix(line, "#")) {
			continue
		}
		if strings.HasSuffix(line, "\\") {
			cur += strings.TrimSuffix(line, "\\") + " "
			continue
		}
		cur += line
		cmd, args, _ := strings.Cut(cur, " ")
		cmd = strings.ToUpper(cmd)
		if cmd == "FROM" {
			stage++
		}
		out = append(out, dockerInstruction{cmd: cmd, args: strings.TrimSpace(args), stage: stage})
		cur = ""
	}
	return out
}

// execForm parses a JSON-array instruction argument (["a", "b"]), the only form whose
// words the test can know without a shell (and the only one distroless can run).
func execForm(t *testing.T, args string) []string {
	t.Helper()
	var words []string
	if err := json.Unmarshal([]byte(args), &words); err != nil {
		t.Fatalf("%q: not in exec form: %v", args, err)
	}
	return words
}

// dockerignored reports whether .dockerignore's patterns leave p (slash-separated,
// relative to the context) out of the build context, as Docker's matcher does for the
// patterns used there: path.Match on the whole path or any leading directory, with a
// leading "**/" matching at any depth, and "!" patterns re-including.
func dockerignored(patterns []string, p string) bool {
	matches := func(pat string) bool {
		pat = strings.TrimPrefix(pat, "/")
		parts := strings.Split(p, "/")
		for i := 1; i <= len(parts); i++ {
			prefix := strings.Join(parts[:i], "/")
			if ok, _ := path.Match(pat, prefix); ok {
				return true
			}
			if rest, ok := strings.CutPrefix(pat, "**/"); ok {
				for j := 0; j < i; j++ {
					if ok, _ := path.Match(rest, strings.Join(parts[j:i], "/")); ok {
						return true
					}
				}
			}
		}
		return false
	}
	ignored := false
	for _, pat := range patterns {
		if neg, ok := strings.CutPrefix(pat, "!"); ok {
			if matches(neg) {
				ignored = false
			}
		} else if matches(pat) {
			ignored = true
		}
	}
	return ignored
}

// TestDockerfileLayout checks, without a container runtime, that the image the
// Dockerfile builds can start: it runs as a non-root user; every directory its config
// writes is made in the build stage and copied in owned by that user; its listeners bind
// 0.0.0.0 on exactly the EXPOSEd ports; its config file loads; its HEALTHCHECK and
// ENTRYPOINT name commands this binary has; and the build context leaves out keys, the
// demo's CA and .git while keeping the source.
func TestDockerfileLayout(t *testing.T) {
	ins := readDockerfile(t, "../../Dockerfile")
	final := ins[len(ins)-1].stage
	var (
		user, healthcheck, entrypoint, cmd string
		exposed                            []string
		configPath, configSrc              string
		owned                              = map[string]string{} // final-image dir -> owner, copied from the build stage
		inImage                            = map[string]bool{}
		made                               []string // dirs the build stage makes
	)
	for _, in := range ins {
		switch {
		case in.cmd == "RUN" && in.stage < final:
			for _, part := range strings.Split(in.args, "&&") {
				f := strings.Fields(part)
				if len(f) > 2 && f[0] == "mkdir" && f[1] == "-p" {
					made = append(made, f[2:]...)
				}
				if len(f) > 3 && f[1] == "policy" && f[2] == "init" {
					made = append(made, f[3])
				}
			}
		case in.cmd == "COPY" && in.stage == final:
			f := strings.Fields(in.args)
			var from, chown string
			for len(f) > 0 && strings.HasPrefix(f[0], "--") {
				if v, ok := strings.CutPrefix(f[0], "--from="); ok {
					from = v
				}
				if v, ok := strings.CutPrefix(f[0], "--chown="); ok {
					chown = v
				}
				f = f[1:]
			}
			if len(f) != 2 {
				t.Fatalf("COPY %s: want one source and one destination", in.args)
			}
			if from == "" && strings.HasSuffix(f[1], ".yaml") {
				configSrc, configPath = f[0], f[1]
			}
			if from != "" {
				for _, m := range made {
					rel, err := filepath.Rel(f[0], m)
					if err != nil || strings.HasPrefix(rel, "..") {
						continue
					}
					inImage[filepath.Join(f[1], rel)] = true
					// COPY may create its destination itself, as root: only what is
					// below it carries --chown, and every directory between it and m
					// was made by the same mkdir -p.
					if rel != "." {
						owned[filepath.Join(f[1], rel)] = chown
					}
				}
			}
		case in.cmd == "USER" && in.stage == final:
			user = in.args
		case in.cmd == "EXPOSE":
			exposed = append(exposed, strings.Fields(in.args)...)
		case in.cmd == "HEALTHCHECK":
			_, healthcheck, _ = strings.Cut(in.args, "CMD ")
		case in.cmd == "ENTRYPOINT":
			entrypoint = in.args
		case in.cmd == "CMD":
			cmd = in.args
		}
	}

	uid, _, _ := strings.Cut(user, ":")
	if uid == "" || uid == "0" || uid == "root" {
		t.Fatalf("USER %q: the image must run as a non-root user", user)
	}
	if configSrc == "" {
		t.Fatal("no config file is copied into the image")
	}
	cfg, err := gateway.LoadConfig(filepath.Join("../..", configSrc))
	if err != nil {
		t.Fatalf("%s: %v", configSrc, err)
	}

	// Every directory the gateway writes exists in the image, owned by USER.
	writes := []string{cfg.Audit.Dir}
	if cfg.Keys.Backend == "" || cfg.Keys.Backend == "file" {
		writes = append(writes, cfg.Keys.Dir)
	}
	if cfg.TLS.ACME.StorageDir != "" {
		writes = append(writes, cfg.TLS.ACME.StorageDir)
	}
	for _, d := range writes {
		if d == "" {
			t.Errorf("%s: a production container writes its audit log and keys", configSrc)
			continue
		}
		owner, ok := owned[d]
		if !ok {
			t.Errorf("%s writes %s, which the Dockerfile does not create (made in the build stage: %v)", configSrc, d, made)
		} else if o, _, _ := strings.Cut(owner, ":"); o != uid {
			t.Errorf("%s is owned by %q in the image, but the gateway runs as %q", d, owner, user)
		}
	}
	if cfg.Policy.Dir != "" {
		if !inImage[cfg.Policy.Dir] {
			t.Errorf("policy.dir %s is not in the image: the gateway would not start without a mount", cfg.Policy.Dir)
		}
	}

	// Listeners: reachable on the EXPOSEd ports, nothing EXPOSEd that no listener serves.
	var bound []string
	for _, l := range cfg.Listeners {
		host, port, err := net.SplitHostPort(l.Address)
		if err != nil {
			t.Fatal(err)
		}
		if host != "0.0.0.0" && host != "" && host != "::" {
			t.Errorf("listener %s binds %s: unreachable from outside the container", l.Name, l.Address)
		}
		if l.Transport == gateway.TransportPlain {
			t.Errorf("listener %s is plain HTTP: in a container it is off loopback", l.Name)
		}
		bound = append(bound, port)
	}
	adminHost, adminPort, _ := net.SplitHostPort(cfg.Admin.Address)
	if !cfg.Admin.TLCP {
		if ip := net.ParseIP(adminHost); ip == nil || !ip.IsLoopback() {
			t.Errorf("plain admin API on %s", cfg.Admin.Address)
		}
	} else {
		bound = append(bound, adminPort)
	}
	for _, e := range exposed {
		p, _, _ := strings.Cut(e, "/")
		if !slices.Contains(bound, p) {
			t.Errorf("EXPOSE %s: no listener serves it (listeners: %v)", e, bound)
		}
	}
	for _, p := range bound {
		if !slices.ContainsFunc(exposed, func(e string) bool { return strings.Split(e, "/")[0] == p }) {
			t.Errorf("port %s is served but not EXPOSEd", p)
		}
	}

	// ENTRYPOINT + CMD serve the copied config; the HEALTHCHECK is this binary's
	// healthcheck probing the admin API's /readyz, with flags it accepts.
	argv := append(execForm(t, entrypoint), execForm(t, cmd)...)
	if len(argv) < 4 || argv[1] != "serve" || argv[slices.Index(argv, "-c")+1] != configPath {
		t.Errorf("ENTRYPOINT+CMD %v: want serve -c %s", argv, configPath)
	}
	hc := execForm(t, healthcheck)
	if hc[0] != argv[0] || hc[1] != "healthcheck" {
		t.Fatalf("HEALTHCHECK %v: want %s healthcheck", hc, argv[0])
	}
	url := hc[slices.Index(hc, "--url")+1]
	if url != "http://"+cfg.Admin.Address+"/readyz" {
		t.Errorf("HEALTHCHECK probes %s; the admin API is %s", url, cfg.Admin.Address)
	}
	// Nothing listens on this port: exit 1 (not ready), not 2 (flags refused).
	closed := strings.Replace(strings.Join(hc[1:], "\x00"), cfg.Admin.Address, "127.0.0.1:"+freePort(t), 1)
	if code, out, errOut := runCmd(t, strings.Split(closed, "\x00")...); code != 1 {
		t.Errorf("HEALTHCHECK %v against a closed port: exit %d %s %s", hc, code, out, errOut)
	}

	// The build context.
	raw, err := os.ReadFile("../../.dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	var patterns []string
	for _, l := range strings.Split(string(raw), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			patterns = append(patterns, l)
		}
	}
	for _, p := range []string{"govgate-demo-data/ca/ca.key", "govgate-demo-data/rensheju-sign.key", "sub/govgate-demo-data/x",
		".git/config", "quickstart/ca/ca.key", "tlcp/gateway-enc.key", "ca/ca.pem", "audit/segments/00000000000000000000.seg",
		"some/audit/tree.hashes", "govgate"} {
		if !dockerignored(patterns, p) {
			t.Errorf(".dockerignore lets %s into the build context", p)
		}
	}
	for _, p := range []string{"go.mod", "go.sum", "cmd/govgate/main.go", "cmd/govgate/demo.yaml", "deploy/container.yaml",
		"rego/authz/authz.rego", "rego/departments.yaml", "rego/fixtures/data.yaml", "keys/doc.go", "audit/log.go"} {
		if dockerignored(patterns, p) {
			t.Errorf(".dockerignore leaves out %s, which the build needs", p)
		}
	}
}

// TestContainerConfigServes runs the image's config as the image would, with its
// directories moved under a temporary root: the TLCP pair and CA where the config expects
// the mount, the shipped policy, the data directories made 0700 as the build stage makes
// them. The HEALTHCHECK's own command line says ready; without the mounted pair the
// gateway refuses to start, naming the file.
func TestContainerConfigServes(t *testing.T) {
	root := t.TempDir()
	raw, err := os.ReadFile("../../deploy/container.yaml")
	if err != nil {
		t.Fatal(err)
	}
	data, admin := freePort(t), freePort(t)
	moved := strings.NewReplacer("/etc/govgate/", root+"/etc/govgate/", "/var/lib/govgate/", root+"/var/lib/govgate/",
		"0.0.0.0:8443", "127.0.0.1:"+data, "127.0.0.1:9090", "127.0.0.1:"+admin)
	cfgPath := filepath.Join(root, "govgate.yaml")
	if err := os.WriteFile(cfgPath, []byte(moved.Replace(string(raw))), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"var/lib/govgate/audit", "var/lib/govgate/keys"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	tlcpDir := filepath.Join(root, "etc/govgate/tlcp")
	for _, args := range [][]string{
		{"policy", "init", filepath.Join(root, "etc/govgate/policy")},
		{"ca", "init", "--dir", filepath.Join(root, "ca")},
	} {
		if code, out, errOut := runCmd(t, args...); code != 0 {
			t.Fatalf("%v: %d %s %s", args, code, out, errOut)
		}
	}
	// Not mounted yet: the gateway refuses to start and says which file is missing.
	if code, _, errOut := runCmd(t, "serve", "-c", cfgPath); code != 1 || !strings.Contains(errOut, tlcpDir) {
		t.Errorf("serve without the TLCP mount: exit %d %s", code, errOut)
	}
	for _, args := range [][]string{
		{"certs", "issue", "--ca", filepath.Join(root, "ca"), "--system", "gateway", "--name", "gateway", "--server", "--dns", "localhost", "--out", tlcpDir},
		{"certs", "crl", "--ca", filepath.Join(root, "ca"), "--out", filepath.Join(tlcpDir, "crl.pem")},
	} {
		if code, out, errOut := runCmd(t, args...); code != 0 {
			t.Fatalf("%v: %d %s %s", args, code, out, errOut)
		}
	}
	b, err := os.ReadFile(filepath.Join(root, "ca/ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tlcpDir, "ca.pem"), b, 0o644); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var serveOut, serveErr syncBuffer
	served := make(chan int, 1)
	go func() { served <- run(ctx, []string{"serve", "-c", cfgPath}, &serveOut, &serveErr) }()
	ready := []string{"healthcheck", "--url", "http://127.0.0.1:" + admin + "/readyz", "--wait", "60s"}
	if code, out, errOut := runCmd(t, ready...); code != 0 {
		t.Fatalf("healthcheck: %d %s %s\n%s", code, out, errOut, serveErr.String())
	}
	cancel()
	if code := <-served; code != 0 {
		t.Fatalf("serve: exit %d\n%s", code, serveErr.String())
	}
	if _, err := os.Stat(filepath.Join(root, "var/lib/govgate/audit/keys.json")); err != nil {
		t.Errorf("the audit log was not begun under the data volume: %v", err)
	}
}
