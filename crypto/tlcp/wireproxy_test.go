package tlcp

import (
	"encoding/binary"
	"io"
	"net"
	"sync"
	"testing"
)

// wireProxy relays TCP connections to a TLCP server and reads the client's side of each
// as records: it keeps the certificate list of every client Certificate message (the
// handshake is in the clear until ChangeCipherSpec), and can rewrite that list or damage
// the first application-data record, as a hostile client or network would.
type wireProxy struct {
	addr   string
	target string

	mu sync.Mutex
	// editCerts, when set, replaces a client Certificate message's list.
	editCerts func([][]byte) [][]byte
	// tamper, when set, changes the first application-data record's body in place.
	tamper func(body []byte)
	certs  [][][]byte // per connection, in order
}

// setEdit sets (nil: clears) the rewriting of client Certificate messages.
func (p *wireProxy) setEdit(f func([][]byte) [][]byte) { p.mu.Lock(); p.editCerts = f; p.mu.Unlock() }

// setTamper sets (nil: clears) the damage done to the first application-data record.
func (p *wireProxy) setTamper(f func([]byte)) { p.mu.Lock(); p.tamper = f; p.mu.Unlock() }

func startWireProxy(t testing.TB, target string) *wireProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &wireProxy{addr: ln.Addr().String(), target: target}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.relay(c)
		}
	}()
	return p
}

// clientCertificates is the certificate lists clients sent, one per connection so far.
func (p *wireProxy) clientCertificates() [][][]byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([][][]byte(nil), p.certs...)
}

func (p *wireProxy) relay(client net.Conn) {
	defer client.Close()
	server, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	defer server.Close()
	go func() { io.Copy(client, server); client.Close() }()
	encrypted, tampered := false, false
	for {
		hdr := make([]byte, 5)
		if _, err := io.ReadFull(client, hdr); err != nil {
			return
		}
		body := make([]byte, binary.BigEndian.Uint16(hdr[3:]))
		if _, err := io.ReadFull(client, body); err != nil {
			return
		}
		switch {
		case hdr[0] == 22 && !encrypted:
			body = p.handshake(body)
			binary.BigEndian.PutUint16(hdr[3:], uint16(len(body)))
		case hdr[0] == 20:
			encrypted = true
		case hdr[0] == 23 && !tampered:
			p.mu.Lock()
			tamper := p.tamper
			p.mu.Unlock()
			if tamper != nil {
				tamper(body)
			}
			tampered = true
		}
		if _, err := server.Write(append(hdr, body...)); err != nil {
			return
		}
	}
}

// handshake looks at each handshake message of a record (gmtls writes one per record),
// recording and perhaps rewriting a Certificate message.
func (p *wireProxy) handshake(body []byte) []byte {
	var out []byte
	for len(body) >= 4 {
		n := int(body[1])<<16 | int(body[2])<<8 | int(body[3])
		if 4+n > len(body) {
			return append(out, body...)
		}
		msg := body[:4+n]
		body = body[4+n:]
		if msg[0] == 11 { // certificate
			list := parseCertificateList(msg[4:])
			p.mu.Lock()
			p.certs = append(p.certs, list)
			edit := p.editCerts
			p.mu.Unlock()
			if edit != nil {
				msg = certificateMessage(edit(list))
			}
		}
		out = append(out, msg...)
	}
	return append(out, body...)
}

// parseCertificateList reads certificate_list<0..2^24-1> of ASN.1Cert<1..2^24-1>.
func parseCertificateList(b []byte) [][]byte {
	if len(b) < 3 {
		return nil
	}
	b = b[3:]
	var out [][]byte
	for len(b) >= 3 {
		n := int(b[0])<<16 | int(b[1])<<8 | int(b[2])
		if 3+n > len(b) {
			break
		}
		out = append(out, b[3:3+n])
		b = b[3+n:]
	}
	return out
}

func certificateMessage(list [][]byte) []byte {
	var certs []byte
	for _, c := range list {
		certs = append(certs, byte(len(c)>>16), byte(len(c)>>8), byte(len(c)))
		certs = append(certs, c...)
	}
	body := append([]byte{byte(len(certs) >> 16), byte(len(certs) >> 8), byte(len(certs))}, certs...)
	return append([]byte{11, byte(len(body) >> 16), byte(len(body) >> 8), byte(len(body))}, body...)
}
