package gateway

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"go.yaml.in/yaml/v3"
)

// Zone names a network a listener faces or a provider lives in.
type Zone string

// The three zones of DESIGN.md: 政务内网, 政务外网 and the internet.
const (
	ZoneInternal Zone = "internal"
	ZoneExternal Zone = "external"
	ZoneInternet Zone = "internet"
)

// Transport is how a listener speaks to its peers.
type Transport string

// Listener transports. Plain HTTP is for development on loopback only.
const (
	TransportPlain Transport = "plain"
	TransportTLS   Transport = "tls"
	TransportTLCP  Transport = "tlcp"
)

// Mode is the sharing mode of a route (查询, 交换, 发布).
type Mode string

// Sharing modes.
const (
	ModeQuery    Mode = "query"
	ModeExchange Mode = "exchange"
	ModePublish  Mode = "publish"
)

// Balance selects the member of a pool that gets the next request.
type Balance string

// Balancing strategies.
const (
	BalanceRoundRobin Balance = "round_robin"
	BalanceLeastConn  Balance = "least_conn"
)

// Config is the whole of govgate's configuration: one YAML file. Zero values are replaced
// by the documented defaults in applyDefaults; examples/govgate.yaml documents every field.
type Config struct {
	GatewayID string     `yaml:"gateway_id"`
	Admin     Admin      `yaml:"admin"`
	Limits    Limits     `yaml:"limits"`
	Listeners []Listener `yaml:"listeners"`
	Routes    []Route    `yaml:"routes"`
	Pools     []Pool     `yaml:"pools"`
	TLCP      TLCP       `yaml:"tlcp"`
	TLS       TLSConfig  `yaml:"tls"`
	Policy    Policy     `yaml:"policy"`
	Audit     Audit      `yaml:"audit"`
	Keys      Keys       `yaml:"keys"`
	Shared    Shared     `yaml:"shared"`
}

// ReloadClass says when a change to a config field takes effect.
type ReloadClass string

// Reload classes.
const (
	// Reloadable fields take effect at the next reload (SIGHUP, POST /reload).
	Reloadable ReloadClass = "reloadable"
	// RestartOnly fields are read once, when the gateway is built; a reload that changes
	// one is refused whole (RestartRequiredError).
	RestartOnly ReloadClass = "restart-only"
)

// ReloadRule classifies the field at Path — YAML names joined by ".", "[]" for a list
// element — and every field below it that has no rule of its own.
type ReloadRule struct {
	Path  string
	Class ReloadClass
	// Why names what the running gateway does (or does not) rebuild on reload.
	Why string
}

// ReloadRules is the one place that says which config fields a reload applies. Each
// section is classified by what Gateway.Reload rebuilds; sections whose parts are built
// once at start (stages, transports, watchers, the admin listener) are restart-only.
// A field with no rule here, nor above it, counts as restart-only (fail closed), and
// TestEveryConfigFieldHasAReloadClass fails until it is given one.
func ReloadRules() []ReloadRule {
	return []ReloadRule{
		{"gateway_id", RestartOnly, "the audit stage stamps it on records; audit.origin and keys.vault.prefix default from it"},
		{"admin", RestartOnly, "the admin listener, its roles and its host guard are set up at start"},
		{"limits", Reloadable, "listeners restart with the new limits; the release memory budget is rebuilt"},
		{"limits.memory_limit", RestartOnly, "the runtime's memory limit is set once, as the gateway starts (SetRuntimeMemory)"},
		{"limits.gc_percent", RestartOnly, "GOGC is set once, as the gateway starts (SetRuntimeMemory)"},
		{"listeners", Reloadable, "added, changed and removed live; a listener's transport must be one set up at start"},
		{"routes", Reloadable, "the router is rebuilt and swapped for every new request"},
		{"pools", Reloadable, "changed pools are rebuilt, unchanged ones kept with their connections and health"},
		{"tlcp", RestartOnly, "the identity source, transport and signature verifier are built at start; the files' contents and key-store versions are re-read by the source's own watcher"},
		{"tls", RestartOnly, "the transport and ACME manager are built at start; the files' contents are re-read by the transport's own watcher"},
		{"policy", RestartOnly, "the engine is built at start; the directory's contents are reloaded by its watcher and POST /policy/reload"},
		{"audit", RestartOnly, "the log is opened at start with its origin, key and segment settings"},
		{"keys", RestartOnly, "the store is opened and its watchers started at start; new key versions are picked up live"},
		{"shared", RestartOnly, "the Redis client and the replay and quota stores on it are built at start; the connection is re-established by the client itself"},
	}
}

// Shared is the state a fleet of gateways shares: nonce claims and quota counters in
// Redis. With no address it is off and each gateway keeps both in memory (as one gateway
// alone does).
type Shared struct {
	Redis     SharedRedis     `yaml:"redis"`
	OnFailure SharedOnFailure `yaml:"on_failure"`
}

// Enabled reports whether the gateway shares its state through Redis.
func (s *Shared) Enabled() bool { return len(s.Redis.Addrs) > 0 }

// SharedRedis is how to reach Redis. Credentials are named by environment variables,
// never written in the file.
type SharedRedis struct {
	// Addrs: one address is a standalone server; several are cluster seeds or sentinels.
	Addrs []string `yaml:"addrs"`
	// Mode is standalone, cluster or sentinel (default standalone).
	Mode           string    `yaml:"mode"`
	SentinelMaster string    `yaml:"sentinel_master"`
	UsernameEnv    string    `yaml:"username_env"`
	PasswordEnv    string    `yaml:"password_env"`
	TLS            SharedTLS `yaml:"tls"`
	// DialTimeout bounds one connection attempt (default 2s); Timeout one command (default
	// 500ms): a request never waits longer than Timeout on Redis before the failure
	// behaviour applies.
	DialTimeout time.Duration `yaml:"dial_timeout"`
	Timeout     time.Duration `yaml:"timeout"`
	// KeyPrefix starts every key (default "govgate:"), so that fleets can share a server.
	KeyPrefix string `yaml:"key_prefix"`
}

// SharedTLS is TLS to Redis: a CA to verify the server, an optional client pair.
type SharedTLS struct {
	CA         string `yaml:"ca"`
	Cert       string `yaml:"cert"`
	Key        string `yaml:"key"`
	ServerName string `yaml:"server_name"`
}

// Enabled reports whether Redis is reached over TLS.
func (t SharedTLS) Enabled() bool { return t.CA != "" || t.Cert != "" || t.ServerName != "" }

// SharedOnFailure is what each shared feature does while Redis cannot answer.
type SharedOnFailure struct {
	// Replay: refuse (default) refuses every signed request; local claims nonces in this
	// gateway's memory only, so a replay sent to another gateway passes meanwhile.
	Replay string `yaml:"replay"`
	// Quota: refuse (default) refuses requests under a quota, and refuses or cuts streamed
	// transfers under a daily volume (rows_per_day, bytes_per_day); local counts both in
	// this gateway's memory (the quota multiplied by the number of gateways at worst);
	// allow counts nothing.
	Quota string `yaml:"quota"`
}

// Redis deployment modes (shared.redis.mode) and failure behaviours (shared.on_failure).
const (
	RedisStandalone = "standalone"
	RedisCluster    = "cluster"
	RedisSentinel   = "sentinel"

	OnFailureRefuse = "refuse"
	OnFailureLocal  = "local"
	OnFailureAllow  = "allow"
)

// Defaults of the shared section.
const (
	DefaultRedisDialTimeout = 2 * time.Second
	DefaultRedisTimeout     = 500 * time.Millisecond
	DefaultRedisKeyPrefix   = "govgate:"
)

// Keys is the key store: named keys with versions. New versions are picked up while the
// gateway runs.
type Keys struct {
	// Backend is "file" (the default) or "vault".
	Backend string `yaml:"backend"`
	// Dir is the file store: <dir>/<name>/<version>.pem, mode 0600, the directory 0700.
	Dir   string `yaml:"dir"`
	Vault Vault  `yaml:"vault"`
	// PollInterval is how often the store is asked for new versions.
	PollInterval time.Duration `yaml:"poll_interval"`
	// PasswordEnv names the environment variable holding the password of encrypted
	// PKCS#8 keys in the store; the password itself never appears in the config.
	PasswordEnv string `yaml:"password_env,omitempty"`
}

// Vault is the Vault KV v2 backend of the key store. Secrets are named by environment
// variables, never written in the config.
type Vault struct {
	Address     string `yaml:"address"`
	TokenEnv    string `yaml:"token_env,omitempty"`     // token auth
	RoleID      string `yaml:"role_id,omitempty"`       // AppRole auth…
	SecretIDEnv string `yaml:"secret_id_env,omitempty"` // …with its secret_id here
	CAFile      string `yaml:"ca_file,omitempty"`
	Mount       string `yaml:"mount"`  // default "secret"
	Prefix      string `yaml:"prefix"` // default "govgate/<gateway_id>"
}

// Audit configures the audit log every exchange is recorded in.
type Audit struct {
	// Dir holds the log; empty runs without the audit stage (said at start and on /readyz).
	Dir string `yaml:"dir"`
	// Origin names the log in checkpoints and receipts, and is the key name its checkpoints
	// are signed under (C2SP tlog-checkpoint); default "govgate/<gateway_id>".
	Origin string `yaml:"origin"`
	// KeyName is the key store's name of the SM2 key that signs checkpoints; generated on
	// first start when the store has none. A new version signs from the log size at which
	// it is picked up; <dir>/keys.json keeps every key and its range.
	KeyName string `yaml:"key_name"`
	// SegmentBytes is the size at which a segment is sealed and the next begun.
	SegmentBytes int64 `yaml:"segment_bytes"`
	// CheckpointInterval is how often a checkpoint is signed while records arrive; at
	// most one second.
	CheckpointInterval time.Duration `yaml:"checkpoint_interval"`
	// CommitDelay is how long a small group commit may be held open for more records
	// when records have been arriving at least one per delay before it and other
	// exchanges are appending (audit.Options.CommitDelay): fewer fsyncs at moderate
	// load, each exchange waiting up to this much longer for its record. 0, the default,
	// commits at once; at most 10ms.
	CommitDelay time.Duration `yaml:"commit_delay"`
	// Retention is how long sealed segments are kept; older ones are removed (export them
	// first with govgate audit export). 0 keeps everything.
	Retention time.Duration `yaml:"retention"`
}

// Policy configures the OPA engine that decides every exchange.
type Policy struct {
	// Dir is the policy directory (Rego and data); empty runs the shipped, embedded policy
	// and its example data.
	Dir string `yaml:"dir"`
	// Watch reloads the policy when a file under Dir changes (default true). POST
	// /policy/reload reloads on demand either way.
	Watch *bool `yaml:"watch"`
	// CacheSize bounds the decision cache, in decisions; -1 disables it.
	CacheSize int `yaml:"cache_size"`
	// SkipTests lets a revision go live without running its Rego tests.
	SkipTests bool `yaml:"skip_tests"`
	// FastPathCheckInputs is how many generated inputs every new revision's decision fast
	// path is checked against the full evaluation with before it goes live (0: the
	// default, 512); -1 turns the fast path off, every decision evaluated in full.
	FastPathCheckInputs int `yaml:"fast_path_check_inputs"`
	// Bundle, when set, loads the policy from a signed OPA bundle polled from a bundle
	// server instead of Dir (the two are mutually exclusive).
	Bundle *PolicyBundle `yaml:"bundle"`
}

// PolicyBundle is a signed policy bundle on an HTTP(S) bundle server (package
// policy/bundle). Every gateway of a fleet polls the same URL, so one revision is live
// everywhere.
type PolicyBundle struct {
	// URL is the bundle's address; its SM2 signature is at URL + ".sig".
	URL string `yaml:"url"`
	// PollInterval is how often the server is asked (If-None-Match); default 30s.
	PollInterval time.Duration `yaml:"poll_interval"`
	// SignersCA are PEM files of the CAs a signer's certificate must chain to; required.
	SignersCA []string `yaml:"signers_ca"`
	// CRL is a PEM CRL file of a signers CA; a signer it revokes is refused. Optional. It
	// is read again at each poll: a signer revoked while running makes no new bundle live
	// (the live revision keeps serving, flagged in /policy), and a CRL that cannot be read
	// then makes none live.
	CRL string `yaml:"crl"`
	// Audience names this gateway's fleet (or gateway group); required. Only a bundle whose
	// signature (format v2) covers this audience is taken: a bundle signed for another
	// fleet that trusts the same officers' CA is refused. `govgate policy sign --audience`.
	Audience string `yaml:"audience"`
	// PersistDir keeps the last bundle that went live: a restart with the server down
	// starts on it (verified again), and an older bundle is refused across restarts.
	// Required.
	PersistDir string `yaml:"persist_dir"`
}

// TLCP is the gateway's own TLCP identity and the CAs its clients' certificates must chain
// to; required when a listener's transport is tlcp.
type TLCP struct {
	SignCert string `yaml:"sign_cert"`
	SignKey  string `yaml:"sign_key"`
	EncCert  string `yaml:"enc_cert"`
	EncKey   string `yaml:"enc_key"`
	// SignKeyName and EncKeyName take the pair from the key store instead of the four
	// files: each version a PEM bundle of certificate, chain and private key
	// (govgate certs rotate writes them).
	SignKeyName string `yaml:"sign_key_name,omitempty"`
	EncKeyName  string `yaml:"enc_key_name,omitempty"`
	ClientCA    string `yaml:"client_ca"`
	// ClientCRL is the CA's current CRL (PEM); a certificate it lists is refused at its
	// next handshake. Reloaded when it changes.
	ClientCRL string `yaml:"client_crl,omitempty"`
	// KeyPasswordEnv names the environment variable holding the keys' password when they
	// are encrypted PKCS#8; the password itself never appears in the config.
	KeyPasswordEnv   string        `yaml:"key_password_env,omitempty"`
	HandshakeTimeout time.Duration `yaml:"handshake_timeout"`
	// SignatureSkew is how old a request signature's created may be (default 300 s); its
	// nonce is remembered that long. SignatureFutureSkew is how far ahead of the gateway's
	// clock created may be (default 30 s, at most SignatureSkew).
	SignatureSkew       time.Duration `yaml:"signature_skew"`
	SignatureFutureSkew time.Duration `yaml:"signature_future_skew"`
	// MaxNonces bounds the replay cache (default 1000000); MaxNoncesPerDept bounds one
	// department's share of it (default a quarter of MaxNonces), so that one department
	// cannot make every other's signed requests fail with replay_cache_full.
	MaxNonces        int `yaml:"max_nonces"`
	MaxNoncesPerDept int `yaml:"max_nonces_per_dept"`
	// ClientVerifyDigestOnly refuses a client CertificateVerify signed over the raw
	// handshake messages (GmSSL 3.x's form); by default it is accepted beside GB/T
	// 38636's signature over their SM3.
	ClientVerifyDigestOnly bool `yaml:"client_verify_digest_only"`
	// CipherSuites is the listeners' suite preference order, most preferred first, by
	// GB/T 38636-2020 name; empty is crypto/tlcp.DefaultSuites (forward-secret GCM first).
	CipherSuites []string `yaml:"cipher_suites,omitempty"`
}

// TLSConfig is the standard mutual-TLS identity of tls listeners and the CAs and CRL their
// clients' (ECDSA or RSA) certificates are checked against; required when a listener's
// transport is tls. The files are reloaded when they change.
type TLSConfig struct {
	Cert      string `yaml:"cert"`
	Key       string `yaml:"key"`
	ClientCA  string `yaml:"client_ca"`
	ClientCRL string `yaml:"client_crl,omitempty"`
	// ACME obtains the server certificate instead of cert and key.
	ACME ACME `yaml:"acme"`
}

// ACME obtains and renews the tls listeners' certificate with certmagic: the tls-alpn-01
// challenge is answered on the tls listener itself (its port must be where the CA's
// validator connects), http-01 optionally on http01_port.
type ACME struct {
	DirectoryURL string   `yaml:"directory_url"`
	Email        string   `yaml:"email"`
	StorageDir   string   `yaml:"storage_dir"`
	Profile      string   `yaml:"profile,omitempty"`
	Domains      []string `yaml:"domains"`
	CAFile       string   `yaml:"ca_file,omitempty"` // roots that verify the ACME server
	HTTP01Port   int      `yaml:"http01_port,omitempty"`
}

// UsesTransport reports whether some listener speaks t.
func (c *Config) UsesTransport(t Transport) bool {
	for _, l := range c.Listeners {
		if l.Transport == t {
			return true
		}
	}
	return false
}

// Admin is the admin API's listener.
type Admin struct {
	Address string `yaml:"address"`
	// AllowNonLoopback lets the admin API listen beyond loopback; it needs TLCP.
	AllowNonLoopback bool `yaml:"allow_non_loopback"`
	// TLCP makes the admin API speak TLCP with the gateway's pair and client CAs, and
	// require a certificate carrying the role of each endpoint (urn:govgate:role:…):
	// policy for security-officer, keys and certificates for crypto-admin, audit for
	// auditor, health, metrics and config for operator. Without it the API is plain HTTP
	// on loopback with no roles, for development.
	TLCP bool `yaml:"tlcp"`
	// Hosts are more names the admin API answers to, as "name" (at the admin port) or
	// "name:port". It always answers to its listen address and to localhost, 127.0.0.1 and
	// [::1] at its port; a request naming any other host (Host header or absolute-form
	// target) is refused with 421, so that a page in a browser on the gateway host cannot
	// reach it by DNS rebinding. /healthz and /readyz answer any Host, for load balancers
	// that probe by address.
	Hosts []string `yaml:"hosts,omitempty"`
}

// Limits bound what one client can make the gateway hold.
type Limits struct {
	MaxHeaderBytes    int           `yaml:"max_header_bytes"`
	MaxConnsPerClient int           `yaml:"max_conns_per_client"`
	ReadTimeout       time.Duration `yaml:"read_timeout"`
	WriteTimeout      time.Duration `yaml:"write_timeout"`
	IdleTimeout       time.Duration `yaml:"idle_timeout"`
	ShutdownTimeout   time.Duration `yaml:"shutdown_timeout"`
	// MaxDecompressedBytes bounds one response the release stage decompresses to filter
	// it; a provider's response that decodes to more is refused (502, RESPONSE_TOO_LARGE)
	// at the first byte over, without decoding the rest.
	MaxDecompressedBytes int64 `yaml:"max_decompressed_bytes"`
	// ReleaseMemory bounds the bytes that decompression in the release stage holds across
	// all exchanges at once (decoder windows, decoded bodies and their filtered copies).
	// An exchange that cannot get its share within ReleaseWait is refused with 503
	// (release_memory_exhausted) rather than risk the process.
	ReleaseMemory int64 `yaml:"release_memory"`
	// ReleaseWait is how long an exchange waits for release memory before it is refused.
	ReleaseWait time.Duration `yaml:"release_wait"`
	// MaxConnectionAge closes a client connection after the response in progress once it
	// has been open this long, however busy: what was decided at its handshake (the
	// certificate, the cipher keys) is renewed at least this often.
	MaxConnectionAge time.Duration `yaml:"max_connection_age"`
	// MemoryLimit is the Go runtime's soft memory limit (GOMEMLIMIT) in bytes, set by
	// SetRuntimeMemory when the gateway starts; 0 (the default) leaves the runtime's own
	// (GOMEMLIMIT from the environment, or none). With a limit the collector runs by
	// GCPercent while the heap is small and as often as the limit needs when it is not.
	MemoryLimit int64 `yaml:"memory_limit"`
	// GCPercent is GOGC while MemoryLimit is set (default 200: half as many collections
	// as the runtime's 100, the limit bounding the heap); refused without a limit, where a
	// higher GOGC would let the heap grow with the load unbounded.
	GCPercent int `yaml:"gc_percent"`
}

// Listener is one address facing one zone.
type Listener struct {
	Name      string    `yaml:"name"`
	Address   string    `yaml:"address"`
	Zone      Zone      `yaml:"zone"`
	Transport Transport `yaml:"transport"`
	// AllowPlainNonLoopback accepts plain HTTP on a non-loopback address: identities and
	// data would cross the network in clear text.
	AllowPlainNonLoopback bool `yaml:"allow_plain_non_loopback"`
}

// Route maps host and path prefix to a shared resource served by a pool.
type Route struct {
	ID           string        `yaml:"id"`
	Host         string        `yaml:"host"`
	PathPrefix   string        `yaml:"path_prefix"`
	Resource     string        `yaml:"resource"`
	Mode         Mode          `yaml:"mode"`
	Pool         string        `yaml:"pool"`
	TargetZone   Zone          `yaml:"target_zone"`
	Timeout      time.Duration `yaml:"timeout"`
	MaxBodyBytes int           `yaml:"max_body_bytes"`
	// RequireSignature refuses requests without a valid SM2 request signature. Until the
	// policy decides this per agreement (require_signature), the route says it.
	RequireSignature bool `yaml:"require_signature"`
	// ResponseHeaders are provider response fields the consumer receives on this route
	// beyond the gateway's allowlist (content and caching fields), e.g. X-Total-Count.
	// Matched in any case. Hop-by-hop fields, Set-Cookie and the gateway's own fields
	// (X-Govgate-*, X-Classification, X-Request-Id, Date, Server) are refused here.
	ResponseHeaders []string `yaml:"response_headers,omitempty"`
	// MaxResponseBytes bounds what a route in exchange or publish mode reads from its
	// provider for one transfer, counted while streaming; a transfer that reaches it is cut
	// (streamlimits.go). A query route's responses are bounded by its pool's
	// max_response_bytes, since they are buffered whole.
	MaxResponseBytes int64 `yaml:"max_response_bytes,omitempty"`
	// TransferTimeout bounds one streamed transfer of an exchange or publish route, from
	// the request to the provider until the last byte of its body: the route's timeout
	// bounds only a buffered exchange.
	TransferTimeout time.Duration `yaml:"transfer_timeout,omitempty"`
	// MaxRequestBytes bounds the consumer's body on a route in exchange or publish mode,
	// whose request bodies stream (streamupload.go), counted while streaming; default
	// DefaultMaxUploadBytes. A query route's bodies are bounded by MaxBodyBytes.
	MaxRequestBytes int64 `yaml:"max_request_bytes,omitempty"`
	// ResumeDigest is how the gateway states the whole representation's SM3 on a range
	// of an opaque resource of an exchange or publish route whose provider states no
	// Repr-Digest (streamdigest.go): "prefix" (the default) reads the bytes before the
	// range from the provider under the same ETag, which costs the provider those bytes
	// again; "off" states none, and a resumed download is then verifiable only against
	// the provider's own Repr-Digest.
	ResumeDigest ResumeDigest `yaml:"resume_digest,omitempty"`
}

// Pool is a set of interchangeable upstream addresses of one provider.
type Pool struct {
	ID        string   `yaml:"id"`
	Addresses []string `yaml:"addresses"`
	// Host is the Host header every forwarded request carries, so that a provider which
	// picks its resource by Host (a virtual host, nginx's server_name) serves the one the
	// route names; the client's Host never reaches it. Default: each member's address.
	Host           string        `yaml:"host,omitempty"`
	Balance        Balance       `yaml:"balance"`
	MaxConns       int           `yaml:"max_conns"`
	ConnectTimeout time.Duration `yaml:"connect_timeout"`
	Timeout        time.Duration `yaml:"timeout"`
	// MaxResponseBytes bounds the response body the gateway buffers from a member; a
	// longer one is refused (502, upstream_response_too_large).
	MaxResponseBytes int `yaml:"max_response_bytes"`
	// Headers are added to every forwarded request, typically the provider's credential for
	// the gateway. Their values are secrets: /config shows them redacted.
	Headers     map[string]string `yaml:"headers,omitempty"`
	HealthCheck HealthCheck       `yaml:"health_check"`
	Passive     PassiveCheck      `yaml:"passive"`
}

// upstreamHost is the Host header a member at addr receives.
func (p *Pool) upstreamHost(addr string) string {
	if p.Host != "" {
		return p.Host
	}
	return addr
}

// HealthCheck is the active probe of every pool member.
type HealthCheck struct {
	Path               string        `yaml:"path"`
	Interval           time.Duration `yaml:"interval"`
	Timeout            time.Duration `yaml:"timeout"`
	HealthyThreshold   int           `yaml:"healthy_threshold"`
	UnhealthyThreshold int           `yaml:"unhealthy_threshold"`
}

// PassiveCheck ejects a member after consecutive failed exchanges.
type PassiveCheck struct {
	MaxFails      int           `yaml:"max_fails"`
	EjectDuration time.Duration `yaml:"eject_duration"`
}

// Defaults, documented in examples/govgate.yaml.
const (
	DefaultAdminAddress      = "127.0.0.1:9090"
	DefaultMaxHeaderBytes    = 16 << 10
	DefaultMaxConnsPerClient = 256
	DefaultReadTimeout       = 30 * time.Second
	DefaultWriteTimeout      = 30 * time.Second
	DefaultIdleTimeout       = 120 * time.Second
	DefaultShutdownTimeout   = 15 * time.Second
	DefaultMaxConnectionAge  = time.Hour
	DefaultMaxBodyBytes      = 4 << 20
	DefaultMaxConns          = 512
	DefaultConnectTimeout    = 2 * time.Second
	DefaultUpstreamTimeout   = 10 * time.Second
	DefaultHealthInterval    = 5 * time.Second
	DefaultHealthTimeout     = 2 * time.Second
	DefaultHealthyThreshold  = 2
	DefaultUnhealthyThresh   = 3
	DefaultMaxFails          = 5
	DefaultEjectDuration     = 30 * time.Second
	DefaultPolicyCacheSize   = 10000
	DefaultAuditSegmentBytes = 64 << 20
	DefaultAuditRetention    = 180 * 24 * time.Hour
	// MaxAuditCommitDelay bounds audit.commit_delay: a hold is a wait every exchange of
	// its batch pays, and past a few milliseconds it is a stall, not a batching window.
	MaxAuditCommitDelay = 10 * time.Millisecond
	// DefaultMaxResponseBytes is the largest provider response body buffered (64 MiB).
	DefaultMaxResponseBytes = 64 << 20
	// DefaultMaxDecompressedBytes is the largest response the release stage decodes
	// (64 MiB, the bound before it was configurable).
	DefaultMaxDecompressedBytes = 64 << 20
	// DefaultReleaseMemory is what release may hold across all exchanges (256 MiB): four
	// responses of the largest size at once, or many of the usual few kilobytes.
	DefaultReleaseMemory = 256 << 20
	DefaultReleaseWait   = 250 * time.Millisecond
	// DefaultGCPercent is GOGC under limits.memory_limit.
	DefaultGCPercent = 200
	// minMemoryHeadroom is what limits.memory_limit must leave above twice
	// limits.release_memory: the resident base with policy and audit and the buffers of
	// the exchanges in flight (docs/architecture.md, "Memory: GOMEMLIMIT").
	minMemoryHeadroom = 64 << 20
)

// LoadConfig reads, decodes, defaults and validates the YAML file at path.
func LoadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load config %s: %w", path, err)
	}
	cfg, err := ParseConfig(data)
	if err != nil {
		return nil, fmt.Errorf("load config %s: %w", path, err)
	}
	return cfg, nil
}

// ParseConfig decodes YAML strictly (an unknown field is an error), applies defaults and
// validates the result.
func ParseConfig(data []byte) (*Config, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var cfg Config
	if err := dec.Decode(&cfg); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("config is empty")
		}
		return nil, fmt.Errorf("decode: %w", err)
	}
	var extra any
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, errors.New("config holds more than one YAML document")
	}
	cfg.applyDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &cfg, nil
}

func (c *Config) applyDefaults() {
	setDefault(&c.Admin.Address, DefaultAdminAddress)
	setDefault(&c.Limits.MaxHeaderBytes, DefaultMaxHeaderBytes)
	setDefault(&c.Limits.MaxConnsPerClient, DefaultMaxConnsPerClient)
	setDefault(&c.Limits.ReadTimeout, DefaultReadTimeout)
	setDefault(&c.Limits.WriteTimeout, DefaultWriteTimeout)
	setDefault(&c.Limits.IdleTimeout, DefaultIdleTimeout)
	setDefault(&c.Limits.ShutdownTimeout, DefaultShutdownTimeout)
	setDefault(&c.Limits.MaxDecompressedBytes, DefaultMaxDecompressedBytes)
	setDefault(&c.Limits.ReleaseMemory, DefaultReleaseMemory)
	setDefault(&c.Limits.ReleaseWait, DefaultReleaseWait)
	setDefault(&c.Limits.MaxConnectionAge, DefaultMaxConnectionAge)
	if c.Limits.MemoryLimit > 0 {
		setDefault(&c.Limits.GCPercent, DefaultGCPercent)
	}
	setDefault(&c.TLCP.HandshakeTimeout, 10*time.Second)
	setDefault(&c.TLCP.SignatureSkew, 300*time.Second)
	setDefault(&c.TLCP.MaxNonces, 1_000_000)
	setDefault(&c.TLCP.SignatureFutureSkew, 30*time.Second)
	setDefault(&c.TLCP.MaxNoncesPerDept, c.TLCP.MaxNonces/DefaultDeptShareDivisor)
	setDefault(&c.Policy.CacheSize, DefaultPolicyCacheSize)
	if c.Audit.Dir != "" {
		setDefault(&c.Audit.Origin, "govgate/"+c.GatewayID)
		setDefault(&c.Audit.SegmentBytes, int64(DefaultAuditSegmentBytes))
		setDefault(&c.Audit.CheckpointInterval, time.Second)
		setDefault(&c.Audit.Retention, DefaultAuditRetention)
		setDefault(&c.Audit.KeyName, "audit-signing")
	}
	setDefault(&c.Keys.PollInterval, 10*time.Second)
	setDefault(&c.Keys.Backend, "file")
	if c.Keys.Backend == "vault" {
		setDefault(&c.Keys.Vault.Mount, "secret")
		setDefault(&c.Keys.Vault.Prefix, "govgate/"+c.GatewayID)
	}
	if c.Policy.Bundle != nil {
		setDefault(&c.Policy.Bundle.PollInterval, 30*time.Second)
	}

	setDefault(&c.Shared.Redis.Mode, RedisStandalone)
	setDefault(&c.Shared.Redis.DialTimeout, DefaultRedisDialTimeout)
	setDefault(&c.Shared.Redis.Timeout, DefaultRedisTimeout)
	setDefault(&c.Shared.Redis.KeyPrefix, DefaultRedisKeyPrefix)
	setDefault(&c.Shared.OnFailure.Replay, OnFailureRefuse)
	setDefault(&c.Shared.OnFailure.Quota, OnFailureRefuse)
	if c.Policy.Watch == nil {
		watch := true
		c.Policy.Watch = &watch
	}
	for i := range c.Listeners {
		l := &c.Listeners[i]
		setDefault(&l.Name, l.Address)
	}
	for i := range c.Pools {
		p := &c.Pools[i]
		setDefault(&p.Balance, BalanceRoundRobin)
		setDefault(&p.MaxConns, DefaultMaxConns)
		setDefault(&p.MaxResponseBytes, DefaultMaxResponseBytes)
		setDefault(&p.ConnectTimeout, DefaultConnectTimeout)
		setDefault(&p.Timeout, DefaultUpstreamTimeout)
		setDefault(&p.HealthCheck.Interval, DefaultHealthInterval)
		setDefault(&p.HealthCheck.Timeout, DefaultHealthTimeout)
		setDefault(&p.HealthCheck.HealthyThreshold, DefaultHealthyThreshold)
		setDefault(&p.HealthCheck.UnhealthyThreshold, DefaultUnhealthyThresh)
		setDefault(&p.Passive.MaxFails, DefaultMaxFails)
		setDefault(&p.Passive.EjectDuration, DefaultEjectDuration)
	}
	for i := range c.Routes {
		r := &c.Routes[i]
		setDefault(&r.MaxBodyBytes, DefaultMaxBodyBytes)
		if r.Mode.Streams() {
			setDefault(&r.MaxResponseBytes, DefaultMaxTransferBytes)
			setDefault(&r.TransferTimeout, DefaultTransferTimeout)
			setDefault(&r.MaxRequestBytes, DefaultMaxUploadBytes)
		}
		r.PathPrefix = cleanPrefix(r.PathPrefix)
		if r.Timeout == 0 {
			if p := c.pool(r.Pool); p != nil {
				r.Timeout = p.Timeout
			}
		}
	}
}

func setDefault[T comparable](field *T, def T) {
	var zero T
	if *field == zero {
		*field = def
	}
}

func (c *Config) pool(id string) *Pool {
	for i := range c.Pools {
		if c.Pools[i].ID == id {
			return &c.Pools[i]
		}
	}
	return nil
}

// StreamsUploads reports whether any route streams request bodies (exchange and publish
// routes): only then do the listeners read bodies as streams (Server.StreamRequestBody),
// which keeps each keep-alive connection's read buffer while it is idle.
func (c *Config) StreamsUploads() bool {
	for _, r := range c.Routes {
		if r.Mode.Streams() {
			return true
		}
	}
	return false
}

// MaxBodyBytes is the largest body any route accepts: the listener's read limit, which each
// route narrows for itself.
func (c *Config) MaxBodyBytes() int {
	max := 0
	for _, r := range c.Routes {
		if r.MaxBodyBytes > max {
			max = r.MaxBodyBytes
		}
	}
	if max == 0 {
		max = DefaultMaxBodyBytes
	}
	return max
}

// Redacted returns a copy of the config that is safe to show: secret values replaced.
func (c *Config) Redacted() *Config {
	out := *c
	out.Pools = make([]Pool, len(c.Pools))
	for i, p := range c.Pools {
		if len(p.Headers) > 0 {
			h := make(map[string]string, len(p.Headers))
			for k := range p.Headers {
				h[k] = "REDACTED"
			}
			p.Headers = h
		}
		out.Pools[i] = p
	}
	return &out
}

// YAML renders the config; callers that show it to people use Redacted first.
func (c *Config) YAML() ([]byte, error) {
	return yaml.Marshal(c)
}
