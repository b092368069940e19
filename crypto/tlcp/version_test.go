package tlcp

import (
	"io"
	"net"
	"testing"
	"time"
)

// firstRecord sends raw and returns the first record the server answers with.
func firstRecord(t *testing.T, addr string, raw []byte) []byte {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := c.Write(raw); err != nil {
		t.Fatal(err)
	}
	hdr := make([]byte, 5)
	if _, err := io.ReadFull(c, hdr); err != nil {
		t.Fatalf("no answer: %v", err)
	}
	body := make([]byte, int(hdr[3])<<8|int(hdr[4]))
	if _, err := io.ReadFull(c, body); err != nil {
		t.Fatalf("short record: %v", err)
	}
	return append(hdr, body...)
}

// The fork speaks TLCP only: a ClientHello of a higher version that offers a TLCP suite is
// answered in TLCP (upstream answered with the client's TLS version and then ran TLCP's
// suite under TLS 1.2's PRF); one below TLCP's version is refused with protocol_version;
// a ticket and a session ID never resume a session.
func TestServerAnswersTLCPOnly(t *testing.T) {
	p := newTestPKI(t)
	addr, _, _ := startServer(t, p)

	for name, hello := range map[string][]byte{
		"TLS 1.2 hello with a TLCP suite": clientHello(0x0303, []uint16{0xe013}, nil, nil),
		"ticket and session ID":           clientHello(0x0101, []uint16{0xe013}, randomBytes(32), ticketExtension()),
	} {
		rec := firstRecord(t, addr, hello)
		if rec[0] != 0x16 || len(rec) < 5+4+2+32+1 || rec[5] != 2 {
			t.Fatalf("%s: answered with %x, want a ServerHello", name, rec[:min(len(rec), 12)])
		}
		if rec[1] != 0x01 || rec[2] != 0x01 || rec[9] != 0x01 || rec[10] != 0x01 {
			t.Errorf("%s: record version %x, server_version %x; want 0101 for both", name, rec[1:3], rec[9:11])
		}
		if sid := rec[5+4+2+32]; sid != 0 {
			t.Errorf("%s: the ServerHello carries a %d-byte session ID: a resumption offered", name, sid)
		}
	}

	rec := firstRecord(t, addr, clientHello(0x0100, []uint16{0xe013}, nil, nil))
	if rec[0] != 0x15 || len(rec) != 7 || rec[6] != 70 {
		t.Errorf("version 0100 answered with %x, want a protocol_version alert", rec)
	}

	if _, err := get(t, addr, p.client, p.trust); err != nil {
		t.Fatalf("good client after the refusals: %v", err)
	}
}
