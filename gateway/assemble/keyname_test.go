package assemble

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/govgate/govgate/audit"
	"github.com/govgate/govgate/client"
	"github.com/govgate/govgate/crypto"
	"github.com/govgate/govgate/gateway"
	"github.com/govgate/govgate/gateway/record"
	"github.com/govgate/govgate/keys"
)

const (
	keyNameGateway = "gw-demo-01"
	keyNameOrigin  = "govgate/gw-demo-01"
	keyNameOld     = "gw-demo-01-audit" // the key name govgate signed under before
)

// keyNameGatewayRun is the audit stage as serve starts it, with its admin endpoints served
// over HTTP for receipt checks.
type keyNameGatewayRun struct {
	a   *Assembly
	log *audit.Log
	dir string
	url string
	srv *fasthttp.Server
}

func startAuditStage(t *testing.T, ctx context.Context, dir string, store keys.Store) *keyNameGatewayRun {
	t.Helper()
	cfg := &gateway.Config{GatewayID: keyNameGateway}
	cfg.Audit = gateway.Audit{Dir: filepath.Join(dir, "audit"), Origin: keyNameOrigin, KeyName: "audit-signing",
		SegmentBytes: 64 << 10, CheckpointInterval: 50 * time.Millisecond}
	cfg.Keys = gateway.Keys{Backend: "file", Dir: filepath.Join(dir, "keys"), PollInterval: 50 * time.Millisecond}
	wctx, cancel := context.WithCancel(ctx)
	b := &builder{ctx: wctx, cfg: cfg, log: slog.New(slog.DiscardHandler), a: &Assembly{Store: store, cancel: cancel}}
	if err := b.audit(); err != nil {
		t.Fatal(err)
	}
	handlers := b.stages.Admin
	srv := &fasthttp.Server{Handler: func(rc *fasthttp.RequestCtx) {
		for _, h := range handlers {
			if string(rc.Path()) == h.Path {
				h.Handler(rc)
				return
			}
		}
		rc.SetStatusCode(fasthttp.StatusNotFound)
	}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	return &keyNameGatewayRun{a: b.a, log: b.stages.Audit.(*record.AuditStage).Log, dir: dir, url: "http://" + ln.Addr().String(), srv: srv}
}

func (g *keyNameGatewayRun) stop(t *testing.T) {
	t.Helper()
	g.srv.Shutdown()
	if err := g.a.Close(); err != nil {
		t.Fatal(err)
	}
}

func keyNameRecord(i int) *audit.Record {
	return &audit.Record{Kind: audit.KindExchange, Route: "r", Provider: "p", Resource: "res", Time: time.Unix(1796000000, 0), Gateway: keyNameGateway, RequestID: fmt.Sprintf("req-%d", i), Method: "GET", Path: "/x", Status: 200, Fields: []string{}}
}

// appendAndCheck appends a record and verifies its receipt as govgate call --verify-receipt
// does, against the keys.json the log keeps; it returns the name and ID of the key that
// signed the checkpoint.
func (g *keyNameGatewayRun) appendAndCheck(t *testing.T, ctx context.Context, i int) (name, id string) {
	t.Helper()
	r, err := g.log.Append(ctx, keyNameRecord(i))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := checkReceipt(ctx, r.String(), g.url, filepath.Join(g.dir, "audit", "keys.json"), &out); err != nil {
		t.Fatalf("receipt of record %d: %v", r.Index, err)
	}
	_, rest, _ := strings.Cut(out.String(), "checkpoint signed by ")
	name, rest, _ = strings.Cut(rest, " (key ")
	id, _, _ = strings.Cut(rest, ")")
	return name, id
}

func loadKeys(t *testing.T, dir string) *audit.KeySet {
	t.Helper()
	ks, err := audit.LoadKeySet(filepath.Join(dir, "audit", "keys.json"))
	if err != nil {
		t.Fatal(err)
	}
	return ks
}

// TestCheckpointKeyNameIsTheOrigin: a new log signs its checkpoints under a key name equal
// to its origin (C2SP tlog-checkpoint), the key ID following from that name.
func TestCheckpointKeyNameIsTheOrigin(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir := t.TempDir()
	store, err := keys.NewFileStore(filepath.Join(dir, "keys"))
	if err != nil {
		t.Fatal(err)
	}
	g := startAuditStage(t, ctx, dir, store)
	name, id := g.appendAndCheck(t, ctx, 0)
	if name != keyNameOrigin {
		t.Errorf("checkpoint signed by %q, want the origin %q", name, keyNameOrigin)
	}
	c := g.log.Checkpoint()
	if c.KeyName != keyNameOrigin || !bytes.Contains(c.Note, []byte("\n\n— "+keyNameOrigin+" ")) {
		t.Errorf("checkpoint note:\n%s", c.Note)
	}
	g.stop(t)
	ks := loadKeys(t, dir)
	if len(ks.Keys) != 1 || ks.Keys[0].Name != keyNameOrigin || ks.Keys[0].KeyID != id {
		t.Errorf("keys.json: %+v (checkpoint key %s)", ks.Keys, id)
	}
	// The key ID is SM3(origin || 0x0A || 0xFF || "sm2" || 04‖X‖Y)[:4].
	pub, err := crypto.ParsePublicKeyPEM([]byte(ks.Keys[0].PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	pre := append([]byte(keyNameOrigin+"\n\xffsm2"), 4)
	pre = append(pre, pub.X.FillBytes(make([]byte, 32))...)
	pre = append(pre, pub.Y.FillBytes(make([]byte, 32))...)
	if sum := crypto.SM3(pre); fmt.Sprintf("%x", sum[:4]) != id {
		t.Errorf("key id %s, want %x", id, sum[:4])
	}
}

// TestOldKeyNameLogKeepsVerifying: a log whose checkpoints and keys.json name the key
// "<gateway id>-audit", as govgate signed before, restarts under the origin name: its
// old checkpoints and receipts still verify with keys.json, new ones are signed under the
// origin, it keeps appending, a rotation and a further restart work, and the whole log
// verifies.
func TestOldKeyNameLogKeepsVerifying(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir := t.TempDir()
	store, err := keys.NewFileStore(filepath.Join(dir, "keys"))
	if err != nil {
		t.Fatal(err)
	}
	// The old log, as the previous release wrote it.
	if err := ensureKey(ctx, store, "audit-signing", nil, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	v, err := store.Latest(ctx, "audit-signing")
	if err != nil {
		t.Fatal(err)
	}
	key, err := crypto.ParsePrivateKeyPEM(v.Data, nil)
	if err != nil {
		t.Fatal(err)
	}
	oldSigner, err := audit.NewNoteSigner(keyNameOld, key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "audit"), 0o700); err != nil {
		t.Fatal(err)
	}
	l, err := audit.Open(audit.Options{Dir: filepath.Join(dir, "audit"), Origin: keyNameOrigin, Signer: oldSigner, CheckpointInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	oldReceipt, err := l.Append(ctx, keyNameRecord(0))
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i < 5; i++ {
		if _, err := l.Append(ctx, keyNameRecord(i)); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	oldNote := l.Checkpoint().Note
	if !bytes.Contains(oldNote, []byte("— "+keyNameOld+" ")) {
		t.Fatalf("old checkpoint:\n%s", oldNote)
	}

	// Restart with this release: new checkpoints under the origin, the old one still verifies.
	g := startAuditStage(t, ctx, dir, store)
	name, newID := g.appendAndCheck(t, ctx, 5)
	if name != keyNameOrigin {
		t.Errorf("after the restart the checkpoint is signed by %q, want %q", name, keyNameOrigin)
	}
	var out bytes.Buffer
	if err := checkReceipt(ctx, oldReceipt.String(), g.url, filepath.Join(dir, "audit", "keys.json"), &out); err != nil {
		t.Errorf("receipt of an old record: %v", err)
	}
	ks := loadKeys(t, dir)
	if c, err := audit.OpenCheckpoint(oldNote, ks); err != nil || c.KeyName != keyNameOld || c.Size != 5 {
		t.Errorf("old checkpoint: %v %+v", err, c)
	}
	if len(ks.Keys) != 2 || ks.Keys[0].Name != keyNameOld || ks.Keys[0].UntilSize == nil || *ks.Keys[0].UntilSize != 5 ||
		ks.Keys[1].Name != keyNameOrigin || ks.Keys[1].FromSize != 5 || ks.Keys[1].PublicKey != ks.Keys[0].PublicKey {
		t.Errorf("keys.json after the restart: %+v", ks.Keys)
	}

	// A rotation: the new key version signs under the origin too.
	if _, err := store.Put(ctx, "audit-signing", mustKeyPEM(t)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(loadKeys(t, dir).Keys) != 3 {
		if time.Now().After(deadline) {
			t.Fatal("the rotated key was not picked up")
		}
		time.Sleep(20 * time.Millisecond)
	}
	name, rotatedID := g.appendAndCheck(t, ctx, 6)
	if name != keyNameOrigin || rotatedID == newID {
		t.Errorf("after the rotation: signed by %s key %s (before: %s)", name, rotatedID, newID)
	}
	g.stop(t)

	// A plain restart adds no key, and appends go on.
	g = startAuditStage(t, ctx, dir, store)
	if name, id := g.appendAndCheck(t, ctx, 7); name != keyNameOrigin || id != rotatedID {
		t.Errorf("after a second restart: signed by %s key %s, want %s", name, id, rotatedID)
	}
	if err := checkReceipt(ctx, oldReceipt.String(), g.url, filepath.Join(dir, "audit", "keys.json"), &out); err != nil {
		t.Errorf("receipt of an old record after the rotation: %v", err)
	}
	g.stop(t)
	if n := len(loadKeys(t, dir).Keys); n != 3 {
		t.Errorf("%d keys after a plain restart, want 3", n)
	}
	rep, err := audit.Verify(filepath.Join(dir, "audit"), loadKeys(t, dir))
	if err != nil || len(rep.Faults) > 0 || rep.Records != 8 {
		t.Errorf("audit verify: %v, %+v", err, rep)
	}
}

func mustKeyPEM(t *testing.T) []byte {
	t.Helper()
	key, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	b, err := crypto.MarshalPrivateKeyPEM(key, nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// checkReceipt verifies a receipt as govgate call --verify-receipt does and prints the
// same line.
func checkReceipt(ctx context.Context, receipt, auditURL, keysPath string, out io.Writer) error {
	keySet, err := audit.LoadKeySet(keysPath)
	if err != nil {
		return err
	}
	rc := &client.ReceiptCheck{BaseURL: auditURL, Keys: keySet, Wait: 5 * time.Second}
	c, err := rc.Verify(ctx, receipt)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "receipt verified: the record is in log %s of size %d, checkpoint signed by %s (key %s)\n", c.Origin, c.Size, c.KeyName, c.KeyID)
	return nil
}
