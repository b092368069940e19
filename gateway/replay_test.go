package gateway_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	. "github.com/govgate/govgate/gateway"
	"github.com/govgate/govgate/gateway/identity"

	"github.com/govgate/govgate/audit"
	"github.com/govgate/govgate/crypto"
)

// TestRebuildReplayWindowReadsOnlyTheTail: the rebuild claims the nonces of the signed
// exchanges the log recorded as forwarded or served while still fresh — not those
// refused before forwarding, not stale ones — and stops reading once records are older
// than the window can reach.
func TestRebuildReplayWindowReadsOnlyTheTail(t *testing.T) {
	dir := t.TempDir()
	key, _ := crypto.GenerateKey()
	signer, err := audit.NewNoteSigner("gw-test-audit", key)
	if err != nil {
		t.Fatal(err)
	}
	l, err := audit.Open(audit.Options{Dir: dir, Origin: "govgate/gw-test", Signer: signer, SegmentBytes: 16 << 10, CheckpointInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	record := func(i int, at time.Time) *audit.Record {
		return &audit.Record{Kind: audit.KindExchange, Route: "population", Provider: "population", Resource: "population.persons", Time: at, Gateway: "gw-test", RequestID: fmt.Sprint("req-", i), Consumer: audit.Consumer{Dept: "d", CertSerial: "0a"},
			Method: "GET", Path: "/population/v1/persons", Status: 200, Fields: []string{}}
	}
	for i := range 300 {
		if _, err := l.Append(context.Background(), record(i, now.Add(-2*time.Hour))); err != nil {
			t.Fatal(err)
		}
	}
	consumer, _ := crypto.GenerateKey()
	sign := func(created time.Time) *audit.Signature {
		m := &crypto.Message{Method: "GET", Scheme: "https", Authority: "gw", Path: "/population/v1/persons", Header: func(string) []string { return nil }}
		sh, err := crypto.SignRequest(crypto.NewSigner(consumer), "0a", m, nil, created)
		if err != nil {
			t.Fatal(err)
		}
		return &audit.Signature{Base: "b", Input: sh.SignatureInput, Signature: sh.Signature}
	}
	served := []*audit.Signature{sign(now.Add(-10 * time.Second)), sign(now.Add(-20 * time.Second))}
	cases := []struct {
		sig             *audit.Signature
		error, upstream string
	}{
		{served[0], "", "10.0.0.1:8080"},                         // forwarded and answered
		{served[1], "bad_gateway", "10.0.0.1:8080"},              // forwarded: the provider may have acted
		{sign(now.Add(-5 * time.Second)), "denied", ""},          // refused before forwarding
		{sign(now.Add(-400 * time.Second)), "", "10.0.0.1:8080"}, // stale
	}
	for i, c := range cases {
		r := record(1000+i, now.Add(-time.Second))
		r.Signature, r.Error, r.Upstream = c.sig, c.error, c.upstream
		if _, err := l.Append(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()

	a := identity.NewPeerAuthenticatorWith(SignaturePolicy{})
	got, err := a.RebuildReplayWindow(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	if got.Claimed != 2 || got.Skipped != 0 || got.Records >= 304 || got.Records < 4 {
		t.Errorf("rebuilt %+v: want 2 nonces claimed from the tail of 304 records", got)
	}
	for _, s := range served {
		p, err := crypto.ParseSignature([]string{s.Input}, []string{s.Signature})
		if err != nil {
			t.Fatal(err)
		}
		err = a.Replay.ClaimNonce(context.Background(), a.Signatures.ClaimOf("d", p), time.Now())
		if se, ok := err.(*crypto.SignatureError); !ok || se.Code != crypto.SigReplayed {
			t.Errorf("a nonce used before the restart claimed again: %v", err)
		}
	}
}
