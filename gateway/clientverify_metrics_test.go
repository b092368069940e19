package gateway_test

import (
	"bytes"
	"context"
	"net"
	"testing"

	. "github.com/govgate/govgate/gateway"

	"github.com/govgate/govgate/crypto/tlcp"
)

// Completed TLCP handshakes are counted by CertificateVerify form in
// govgate_tlcp_client_verify_total{form}, every form rendered from zero; a refused
// handshake is not counted there.
func TestClientVerifyFormsInMetrics(t *testing.T) {
	r := startTLCPRig(t, nil)
	good := r.issue(t, "110000-shuiwu")
	revoked := r.issue(t, "110000-rensheju")
	r.p.writeCRL(t, 2, revoked.SignCert.SerialNumber)
	r.src.Poll(context.Background())
	for i := 0; i < 2; i++ {
		c, err := r.dial(good)
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
	if _, err := r.dial(revoked); err == nil {
		t.Fatal("a revoked department completed a handshake")
	}
	waitFor(t, "the handshakes to be counted by form", func() bool {
		m := r.metrics(t)
		return bytes.Contains(m, []byte("# TYPE govgate_tlcp_client_verify_total counter\n")) &&
			bytes.Contains(m, []byte(`govgate_tlcp_client_verify_total{form="sm3_digest"} 2`+"\n")) &&
			bytes.Contains(m, []byte(`govgate_tlcp_client_verify_total{form="raw_transcript"} 0`+"\n")) &&
			bytes.Contains(m, []byte(`govgate_handshake_failures_total{listener="ext",reason="revoked"} 1`))
	})
}

// Every listener a TLCPTransport wraps counts into one set of counters, so that a
// listener restarted by a reload does not reset the metric.
func TestTLCPTransportSharesClientVerifyCounts(t *testing.T) {
	r := startTLCPRig(t, nil)
	tr := &TLCPTransport{Identity: r.src.Identity, Trust: r.src.Trust}
	var stats []*tlcp.ClientVerifyStats
	for i := 0; i < 2; i++ {
		inner, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ln, err := tr.Wrap(inner)
		if err != nil {
			t.Fatal(err)
		}
		stats = append(stats, ln.(*tlcp.Listener).ClientVerifyStats())
		ln.Close()
	}
	if stats[0] != stats[1] {
		t.Error("two listeners of one transport count client verifications apart")
	}
}
