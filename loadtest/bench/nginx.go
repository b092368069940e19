package main

import (
	"fmt"
	"os"
	"path/filepath"
)

// nginxRow is which nginx a row runs.
type nginxRow struct {
	auth bool // auth_request to the stock OPA server
	tls  bool // terminate TLS (nginxTLSCipher) from the load generator
}

// nginxConf is what an nginx configuration is made of.
type nginxConf struct {
	dir      string // pid and error log
	listen   string
	upstream string
	opa      string // the OPA server's address; empty: no auth_request
	cert     string // PEM files of the TLS pair; empty: plain HTTP
	key      string
}

// nginxConfig is a keep-alive reverse proxy with one worker, since the servers are pinned
// to one core. keepalive_requests is raised on both sides from nginx's 1,000: the bench
// measures kept-alive connections, not one reconnection (and TLS handshake) in a thousand.
func nginxConfig(c nginxConf) string {
	authUpstream, authMaps, authLocation, authRequest := "", "", "", ""
	if c.opa != "" {
		authUpstream = "upstream opa { server " + c.opa + "; keepalive 64; keepalive_requests 1000000; }"
		authMaps = nginxAuthMaps()
		authLocation = nginxAuthLocation()
		authRequest = "auth_request /_authz;"
	}
	listen := "listen " + c.listen + ";"
	if c.cert != "" {
		listen = nginxTLSServer(c.listen, c.cert, c.key)
	}
	return fmt.Sprintf(`daemon off;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/nginx-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  upstream up { server %[2]s; keepalive 64; keepalive_requests 1000000; }
  %[3]s
%[4]s
  server {
    %[5]s
    %[6]s
    location / {
      %[7]s
      proxy_pass http://up;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
`, c.dir, c.upstream, authUpstream, authMaps, listen, authLocation, authRequest)
}

// nginx starts nginx for a row — with the stock OPA server first if it asks for
// auth_request, and a fresh P-256 pair if it terminates TLS — and returns the processes
// and the URL to load.
func (b *bench) nginx(row nginxRow) ([]*proc, string, error) {
	c := nginxConf{dir: b.dir, listen: freeAddr(), upstream: b.upstream}
	var procs []*proc
	stopAll := func() {
		for _, p := range procs {
			p.stop()
		}
	}
	if row.auth {
		p, addr, err := b.opa()
		if err != nil {
			return nil, "", err
		}
		procs, c.opa = append(procs, p), addr
	}
	scheme := "http"
	if row.tls {
		pair, err := b.tlsPair()
		if err != nil {
			stopAll()
			return nil, "", err
		}
		c.cert, c.key, scheme = pair.certFile, pair.keyFile, "https"
	}
	path := filepath.Join(b.dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(nginxConfig(c)), 0o644); err != nil {
		stopAll()
		return nil, "", fmt.Errorf("write nginx config: %w", err)
	}
	p, err := b.run([]string{"nginx", "-c", path, "-p", b.dir}, c.listen)
	if err != nil {
		stopAll()
		return nil, "", fmt.Errorf("nginx (apt-get install nginx-light): %w", err)
	}
	procs = append(procs, p)
	if row.tls {
		if err := checkTLS(c.listen, b.tls.client); err != nil {
			stopAll()
			return nil, "", err
		}
	}
	return procs, scheme + "://" + c.listen + "/enterprise/v1/companies?uscc=91110108MA01A2B3C4", nil
}
