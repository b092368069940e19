package tlcp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emmansun/gmsm/smx509"
	"github.com/tjfoc/gmsm/x509"

	"github.com/govgate/govgate/crypto/tlcp/internal/gmtls"
)

// ServerConfig is a TLCP listener's configuration. Identity and Trust are read at every
// handshake, so storing new values rotates certificates and CRLs without a restart.
type ServerConfig struct {
	Identity         *IdentitySource
	Trust            *TrustSource
	HandshakeTimeout time.Duration // DefaultHandshakeTimeout when zero
	Logger           *slog.Logger
	// DigestVerifyOnly refuses (bad_certificate) a client CertificateVerify signed over
	// the raw handshake messages, as GmSSL 3.x clients sign, and accepts only GB/T
	// 38636's SM2 signature over SM3 of them. By default both are accepted.
	DigestVerifyOnly bool
	// ClientVerify counts completed handshakes by CertificateVerify form; the listener
	// makes its own when nil.
	ClientVerify *ClientVerifyStats
	// Suites are the cipher suites the listener accepts, in its order of preference
	// (the listener's order wins over the client's); nil is DefaultSuites().
	Suites []Suite
}

// Listener accepts TLCP connections. The handshake runs on the connection's first read
// or write, in the goroutine that serves it, never in Accept.
type Listener struct {
	net.Listener
	cfg     ServerConfig
	suites  []uint16
	gm      *gmtls.Config
	current atomic.Pointer[identityConfig]
	peers   *peerCache
	panics  atomic.Int64
	// observer hears of every handshake this listener's connections fail.
	observer atomic.Pointer[func(HandshakeFailure)]
}

// OnHandshakeFailure calls f, in the connection's goroutine, for every handshake that
// fails on this listener — refused certificates, protocol errors, timeouts — so that the
// gateway can count and log them; the peer itself only ever sees an alert.
func (l *Listener) OnHandshakeFailure(f func(HandshakeFailure)) { l.observer.Store(&f) }

// handshakeFailed reports a failed handshake; presented is asked for the client's signing
// certificate when the error does not carry it (a CertificateVerify that did not verify
// comes after the certificate passed: someone holding a department's certificate but not
// its key).
func (l *Listener) handshakeFailed(remote net.Addr, err error, presented func() *smx509.Certificate) {
	f := l.observer.Load()
	if f == nil {
		return
	}
	reason, cert := classifyHandshake(err)
	if cert == nil {
		cert = presented()
	}
	(*f)(HandshakeFailure{Reason: reason, Remote: remote, Cert: cert, Err: err})
}

// ClientVerifyStats returns the counts of client CertificateVerify forms this listener's
// handshakes used (shared with other listeners when ServerConfig.ClientVerify was set).
func (l *Listener) ClientVerifyStats() *ClientVerifyStats { return l.cfg.ClientVerify }

// RecoveredPanics counts the gmtls panics recovered on this listener's connections: each
// is a peer that would have crashed an unhardened server.
func (l *Listener) RecoveredPanics() int64 { return l.panics.Load() }

// NewListener wraps inner. Every connection requires a client certificate pair chained to
// the trust store and not revoked.
func NewListener(inner net.Listener, cfg ServerConfig) (*Listener, error) {
	if cfg.Identity == nil || cfg.Identity.Load() == nil {
		return nil, errors.New("tlcp listener: no server identity")
	}
	if cfg.Trust == nil || cfg.Trust.Load() == nil {
		return nil, errors.New("tlcp listener: no trust store for client certificates")
	}
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.ClientVerify == nil {
		cfg.ClientVerify = &ClientVerifyStats{}
	}
	suites, err := suiteIDs(cfg.Suites)
	if err != nil {
		return nil, fmt.Errorf("tlcp listener: %w", err)
	}
	l := &Listener{Listener: inner, cfg: cfg, suites: suites, peers: newPeerCache()}
	l.gm = &gmtls.Config{
		GMSupport: &gmtls.GMSupport{},
		// The listener's connections share their record buffers: one is held only while
		// a record is read, decrypted or written, not for an idle connection's life.
		Blocks: &gmtls.BlockPool{},
		// gmtls's GM server reads Certificates only (it ignores GetCertificate), so each
		// handshake gets a config for the identity and trust store current at its
		// ClientHello.
		GetConfigForClient: func(*gmtls.ClientHelloInfo) (*gmtls.Config, error) {
			return l.configFor(cfg.Identity.Load(), cfg.Trust.Load()), nil
		},
	}
	return l, nil
}

// identityConfig is the gmtls config built for one identity and trust store, kept until
// either is replaced.
type identityConfig struct {
	id  *Identity
	ts  *TrustStore
	cfg *gmtls.Config
}

func (l *Listener) configFor(id *Identity, ts *TrustStore) *gmtls.Config {
	if c := l.current.Load(); c != nil && c.id == id && c.ts == ts {
		return c.cfg
	}
	sign, enc := id.gmCertificates()
	names, dropped := caNames(ts)
	if dropped > 0 {
		l.cfg.Logger.Warn("tlcp: the client CAs' names do not all fit in one CertificateRequest; some are not listed (their clients are still verified, but a client that looks for its issuer in the list may not send its certificate)",
			"listed", len(names), "not_listed", dropped)
	}
	cfg := &gmtls.Config{
		GMSupport:    &gmtls.GMSupport{},
		Certificates: []gmtls.Certificate{sign, enc},
		CipherSuites: l.suites,
		// The configured order decides, so that a client listing CBC or ECC first still
		// gets forward secrecy and GCM when it offers them.
		PreferServerCipherSuites: true,
		SessionTicketsDisabled:   true,
		// tjfoc's own chain check uses its slow SM2 and knows nothing of CRLs: it is
		// replaced by verifyPeer, which runs on every handshake.
		ClientAuth:            gmtls.RequireAnyClientCert,
		VerifyPeerCertificate: l.verifyClient,
		// The CertificateRequest names the CAs of the trust store: TLS 1.1, which TLCP
		// follows, declares the list non-empty, and GmSSL's client looks for its issuer
		// there and aborts (unsupported_certificate) when the list is empty.
		ClientCANames: names,
		// GmSSL 3.x clients sign the handshake messages themselves, not their SM3.
		AcceptRawTranscriptVerify: !l.cfg.DigestVerifyOnly,
	}
	l.current.Store(&identityConfig{id: id, ts: ts, cfg: cfg})
	return cfg
}

// maxCANamesLen bounds the certificate_authorities list (its 2-byte length prefixes
// included) so that the CertificateRequest — 4 bytes of header, 3 of certificate types, 2
// of list length — stays within the 64 KiB handshake message gmtls and tjfoc accept; the
// list's own length field is 16 bits.
const maxCANamesLen = 65536 - 4 - 3 - 2

// caNames is the distinct subjects (DER) of ts's CAs, in the store's order, as many as
// fit in maxCANamesLen; dropped counts those that do not.
func caNames(ts *TrustStore) (names [][]byte, dropped int) {
	if ts == nil {
		return nil, 0
	}
	seen := map[string]bool{}
	total := 0
	for _, ca := range ts.CAs {
		if ca == nil || len(ca.RawSubject) == 0 || seen[string(ca.RawSubject)] {
			continue
		}
		seen[string(ca.RawSubject)] = true
		if total+2+len(ca.RawSubject) > maxCANamesLen {
			dropped++
			continue
		}
		total += 2 + len(ca.RawSubject)
		names = append(names, ca.RawSubject)
	}
	return names, dropped
}

func (l *Listener) verifyClient(raw [][]byte, _ [][]*x509.Certificate) error {
	_, err := l.peers.verify(raw, l.cfg.Trust.Load(), smx509.ExtKeyUsageClientAuth, time.Now(), "")
	return err
}

// Accept returns the next connection as a *Conn whose handshake has not run yet.
func (l *Listener) Accept() (net.Conn, error) {
	raw, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &Conn{raw: raw, tls: gmtls.Server(raw, l.gm), timeout: l.cfg.HandshakeTimeout, log: l.cfg.Logger, usage: smx509.ExtKeyUsageClientAuth, trust: l.cfg.Trust, peers: l.peers, panics: &l.panics, listener: l}, nil
}

// Conn is a TLCP connection that cannot take the process down: every call into gmtls
// recovers a panic and turns it into an error that closes this connection only.
type Conn struct {
	raw     net.Conn
	tls     *gmtls.Conn
	timeout time.Duration
	log     *slog.Logger
	usage   smx509.ExtKeyUsage
	trust   *TrustSource
	peers   *peerCache // the listener's; nil for a client
	server  string     // for a client: the name the server's certificate must carry
	panics  *atomic.Int64
	// listener is the server's listener, told of a failed handshake; nil for a client.
	listener *Listener

	once sync.Once
	err  error
	peer *PeerCertificates
	// verifiedWith is the trust store the peer was last verified against: at the
	// handshake, and again by TrustedPeer whenever the store has changed since.
	verifiedWith atomic.Pointer[TrustStore]
	// refused is set once TrustedPeer has refused the peer: the server closes the
	// connection after its answer.
	refused atomic.Bool
	// established is set once the handshake has succeeded and the peer is verified: Close
	// may run on another goroutine (fasthttp's shutdown closing idle connections), so it
	// reads this rather than err and peer.
	established atomic.Bool
	// verifyForm is what the client's CertificateVerify signed (server side).
	verifyForm gmtls.ClientVerifyForm
}

// Handshake runs the TLCP handshake once, within the handshake timeout.
func (c *Conn) Handshake() error {
	c.once.Do(func() {
		c.raw.SetDeadline(time.Now().Add(c.timeout))
		err := c.guard("handshake", c.tls.Handshake)
		if err == nil {
			err = c.readPeer()
		}
		c.raw.SetDeadline(time.Time{})
		if err == nil && c.listener != nil {
			c.listener.cfg.ClientVerify.add(c.verifyForm)
		}
		if err != nil {
			c.err = fmt.Errorf("tlcp handshake with %s: %w", c.raw.RemoteAddr(), err)
			c.raw.Close()
			if c.listener != nil {
				c.listener.handshakeFailed(c.raw.RemoteAddr(), err, c.presentedCertificate)
			}
		}
	})
	return c.err
}

func (c *Conn) readPeer() error {
	var raw [][]byte
	err := c.guard("connection state", func() error {
		state := c.tls.ConnectionState()
		for _, pc := range state.PeerCertificates {
			raw = append(raw, pc.Raw)
		}
		c.verifyForm = state.ClientVerify
		return nil
	})
	if err != nil {
		return err
	}
	// On a server, the same chain was verified moments ago in VerifyPeerCertificate: this
	// finds it in the cache.
	ts := c.trust.Load()
	peer, err := c.peers.verify(raw, ts, c.usage, time.Now(), c.server)
	if err != nil {
		return err
	}
	// The SM2 key exchange used the peer's second certificate's key: it must be the
	// encryption certificate verified here (gmtls has already refused an ECDHE client
	// without one; a server always sends one).
	if c.Suite().ForwardSecret() && (peer.Enc == nil || len(raw) < 2 || string(raw[1]) != string(peer.Enc.Raw)) {
		return certError(ReasonBadCertificate, peer.Sign, errors.New("tlcp: with ECDHE the peer's second certificate must be a verified encryption certificate"))
	}
	c.peer = peer
	c.verifiedWith.Store(ts)
	c.established.Store(true)
	// gmtls's own parse of the certificates and its handshake buffer are not needed
	// from here on; c.peer (shared through the listener's cache) is what stays.
	return c.guard("release handshake state", func() error { c.tls.ReleaseHandshakeState(); return nil })
}

// presentedCertificate is the signing certificate the peer sent, parsed, even when the
// handshake failed; nil when it sent none or gmtls cannot say.
func (c *Conn) presentedCertificate() *smx509.Certificate {
	var sent []*x509.Certificate
	if c.guard("presented certificates", func() error { sent = c.tls.PresentedCertificates(); return nil }) != nil || len(sent) == 0 {
		return nil
	}
	cert, err := smx509.ParseCertificate(sent[0].Raw)
	if err != nil {
		return nil
	}
	return cert
}

// guard calls f, turning a panic inside gmtls into an error.
func (c *Conn) guard(op string, f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			if c.panics != nil {
				c.panics.Add(1)
			}
			c.log.Warn("tlcp: recovered a panic in gmtls; the connection is closed", "op", op, "peer", c.raw.RemoteAddr().String(), "panic", fmt.Sprint(r))
			err = fmt.Errorf("tlcp %s: %w", op, errGmtlsPanic)
		}
	}()
	return f()
}

// Suite is the negotiated cipher suite, after a successful handshake (0 before).
func (c *Conn) Suite() Suite {
	var s Suite
	c.guard("connection state", func() error { s = Suite(c.tls.ConnectionState().CipherSuite); return nil })
	return s
}

// Peer returns the verified peer certificates, after a successful handshake.
func (c *Conn) Peer() *PeerCertificates {
	if c.Handshake() != nil {
		return nil
	}
	return c.peer
}

// TrustedPeer returns the peer's certificates if they are still trusted at now: verified
// against the trust store in force — again, when a new CA set or CRL has been stored since
// the last verification — and within their validity. A connection opened before its peer
// was revoked, or before its CA left the trust store, or that outlived its certificate, is
// refused here with a *CertError naming the reason. When nothing changed it costs one
// atomic load and two time comparisons; a re-verification is shared through the
// listener's cache by every connection of the same peer.
func (c *Conn) TrustedPeer(now time.Time) (*PeerCertificates, error) {
	p := c.Peer()
	if p == nil {
		return nil, certError(ReasonNoCertificate, nil, errors.New("tlcp: no verified peer certificate"))
	}
	ts := c.trust.Load()
	if c.verifiedWith.Load() == ts && p.validAt(now) {
		return p, nil
	}
	if _, err := c.peers.verify(p.rawChain(), ts, c.usage, now, c.server); err != nil {
		c.refused.Store(true)
		return nil, err
	}
	c.verifiedWith.Store(ts)
	return p, nil
}

// PeerRefused tells whether TrustedPeer has refused this connection's peer: it is to be
// closed after the answer in progress.
func (c *Conn) PeerRefused() bool { return c.refused.Load() }

func (c *Conn) Read(b []byte) (int, error) {
	if err := c.Handshake(); err != nil {
		return 0, err
	}
	var n int
	err := c.guard("read", func() (err error) { n, err = c.tls.Read(b); return err })
	return n, err
}

func (c *Conn) Write(b []byte) (int, error) {
	if err := c.Handshake(); err != nil {
		return 0, err
	}
	var n int
	err := c.guard("write", func() (err error) { n, err = c.tls.Write(b); return err })
	return n, err
}

// Close closes the connection; a close_notify is sent only after a completed handshake.
func (c *Conn) Close() error {
	if c.established.Load() {
		c.guard("close", c.tls.Close)
	}
	return c.raw.Close()
}

func (c *Conn) LocalAddr() net.Addr                { return c.raw.LocalAddr() }
func (c *Conn) RemoteAddr() net.Addr               { return c.raw.RemoteAddr() }
func (c *Conn) SetDeadline(t time.Time) error      { return c.raw.SetDeadline(t) }
func (c *Conn) SetReadDeadline(t time.Time) error  { return c.raw.SetReadDeadline(t) }
func (c *Conn) SetWriteDeadline(t time.Time) error { return c.raw.SetWriteDeadline(t) }

// ClientConfig is a TLCP client's configuration.
type ClientConfig struct {
	Identity         *Identity    // the client's signing and encryption pair
	Trust            *TrustSource // CAs the server's certificate must chain to
	ServerName       string       // the DNS name the server's signing certificate must carry
	HandshakeTimeout time.Duration
	Logger           *slog.Logger
	// Suites are the cipher suites offered, most preferred first; nil is DefaultSuites().
	// The server's preference decides among them.
	Suites []Suite

	// certificateRequest, when set (by tests), is told of the certificate_authorities
	// list of the server's CertificateRequest.
	certificateRequest func(acceptableCAs [][]byte)
	// certificateVerifyInput, when set (by tests), chooses what CertificateVerify signs.
	certificateVerifyInput func(transcript, digest []byte) []byte
}

// Dial connects to addr and completes a TLCP handshake, verifying the server's chain
// itself (tjfoc's client checks the name on every certificate and cannot use intermediates).
func Dial(ctx context.Context, network, addr string, cfg ClientConfig) (*Conn, error) {
	if err := cfg.Identity.Check(); err != nil {
		return nil, err
	}
	return dial(ctx, network, addr, cfg)
}

// dial is Dial without the check of the client's own identity, which tests bypass to see
// what the server refuses; a nil Identity sends no certificate.
func dial(ctx context.Context, network, addr string, cfg ClientConfig) (*Conn, error) {
	if cfg.Trust == nil || cfg.Trust.Load() == nil {
		return nil, errors.New("tlcp dial: no trust store for the server certificate")
	}
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	suites, err := suiteIDs(cfg.Suites)
	if err != nil {
		return nil, fmt.Errorf("tlcp dial: %w", err)
	}
	var d net.Dialer
	raw, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, fmt.Errorf("tlcp dial %s: %w", addr, err)
	}
	gm := &gmtls.Config{
		GMSupport:              &gmtls.GMSupport{},
		CipherSuites:           suites,
		SessionTicketsDisabled: true,
		InsecureSkipVerify:     true, // verified by verifyPeer in Handshake, with emmansun
		CertificateVerifyInput: cfg.certificateVerifyInput,
	}
	if cfg.Identity != nil || cfg.certificateRequest != nil {
		// The client has one identity, so it sends it whatever CAs the server lists:
		// gmtls's own choice would send nothing when the list does not name the issuer,
		// and the server would then report a missing certificate instead of the reason it
		// refuses this one.
		var cert gmtls.Certificate
		if cfg.Identity != nil {
			cert = cfg.Identity.clientCertificate()
		}
		gm.GetClientCertificate = func(cri *gmtls.CertificateRequestInfo) (*gmtls.Certificate, error) {
			if cfg.certificateRequest != nil {
				cfg.certificateRequest(cri.AcceptableCAs)
			}
			return &cert, nil
		}
	}
	c := &Conn{raw: raw, tls: gmtls.Client(raw, gm), timeout: cfg.HandshakeTimeout, log: cfg.Logger,
		usage: smx509.ExtKeyUsageServerAuth, trust: cfg.Trust, server: cfg.ServerName}
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < c.timeout {
		c.timeout = time.Until(dl)
	}
	if err := c.Handshake(); err != nil {
		return nil, err
	}
	return c, nil
}
