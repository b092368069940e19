package bundle

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/govgate/govgate/crypto"
)

// Server serves the files of a directory (bundles and their signatures) with a strong
// ETag, the SM3 digest of the file, and answers If-None-Match with 304: what a poller needs
// from a bundle server, and what net/http's FileServer does not give (it sets no ETag).
// Files are read at each request, so a bundle published with Publish is served at once.
type Server struct {
	Dir string
}

// ServeHTTP serves GET and HEAD of a regular, non-hidden file directly under Dir.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	name := path.Base(path.Clean("/" + r.URL.Path))
	if name == "/" || strings.HasPrefix(name, ".") {
		http.NotFound(w, r)
		return
	}
	data, err := os.ReadFile(filepath.Join(s.Dir, name))
	if err != nil {
		http.NotFound(w, r)
		return
	}
	sum := crypto.SM3(data)
	etag := `"` + hex.EncodeToString(sum[:16]) + `"`
	w.Header().Set("ETag", etag)
	w.Header().Set("Cache-Control", "no-cache")
	if inm := r.Header.Get("If-None-Match"); inm != "" && etagMatches(inm, etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Header().Set("Content-Type", "application/gzip")
	if strings.HasSuffix(name, SignatureSuffix) {
		w.Header().Set("Content-Type", "application/json")
	}
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(data))
}

// etagMatches is RFC 9110's weak comparison over an If-None-Match list.
func etagMatches(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == "*" || t == etag {
			return true
		}
	}
	return false
}

// Publish writes a bundle and its signature into dir as name and name+SignatureSuffix,
// the signature first and each through a rename, so that a poller never reads half a
// file; one that reads the new signature with the old bundle refuses the pair and retries.
func Publish(dir, name string, bundle, sig []byte) error {
	for _, f := range []struct {
		name string
		data []byte
	}{{name + SignatureSuffix, sig}, {name, bundle}} {
		p := filepath.Join(dir, f.name)
		if err := os.WriteFile(p+".tmp", f.data, 0o644); err != nil {
			return fmt.Errorf("publish bundle: %w", err)
		}
		if err := os.Rename(p+".tmp", p); err != nil {
			return fmt.Errorf("publish bundle: %w", err)
		}
	}
	return nil
}
