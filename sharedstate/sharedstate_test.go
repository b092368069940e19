package sharedstate

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/govgate/govgate/crypto"
	"github.com/govgate/govgate/gateway"
	"github.com/govgate/govgate/internal/redistest"
	"github.com/govgate/govgate/policy"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

var refuse = gateway.SharedOnFailure{Replay: gateway.OnFailureRefuse, Quota: gateway.OnFailureRefuse}

func redisConfig(addrs ...string) gateway.SharedRedis {
	return gateway.SharedRedis{Addrs: addrs, Mode: gateway.RedisStandalone, DialTimeout: time.Second, Timeout: 500 * time.Millisecond, KeyPrefix: "t:"}
}

func connect(t *testing.T, cfg gateway.SharedRedis) rueidis.Client {
	t.Helper()
	c, err := Connect(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// gatewayStore is one gateway's replay store on the fleet's Redis.
func gatewayStore(t *testing.T, c rueidis.Client, perDept int, h *Health) *ReplayStore {
	t.Helper()
	s, err := NewReplayStore(c, Keys{Prefix: "t:"}, 500*time.Millisecond, perDept, 330*time.Second, 0, h)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func sigCode(err error) string {
	var se *crypto.SignatureError
	if errors.As(err, &se) {
		return se.Code
	}
	return ""
}

// A nonce claimed at one gateway is a replay at the other; the other's release of it (it
// never held it) leaves it claimed; the key expires with the signature; the holder's
// release frees it.
func TestReplayClaimIsFleetWide(t *testing.T) {
	srv := redistest.Start(t)
	c := connect(t, redisConfig(srv.Addr))
	h := NewHealth(refuse, quiet)
	a, b := gatewayStore(t, c, 0, h), gatewayStore(t, c, 0, h)
	now := time.Now()
	claim := crypto.NonceClaim{Dept: "110000-shuiwu", KeyID: "k1", Nonce: "n-1", Expiry: now.Add(200 * time.Second)}
	if err := a.ClaimNonce(t.Context(), claim, now); err != nil {
		t.Fatal(err)
	}
	if err := b.ClaimNonce(t.Context(), claim, now); sigCode(err) != crypto.SigReplayed {
		t.Fatalf("the twin accepted a claimed nonce: %v", err)
	}
	if err := a.ClaimNonce(t.Context(), claim, now); sigCode(err) != crypto.SigReplayed {
		t.Fatalf("the same gateway accepted its own nonce twice: %v", err)
	}
	// The same nonce under another key id is another claim.
	other := claim
	other.KeyID = "k2"
	if err := b.ClaimNonce(t.Context(), other, now); err != nil {
		t.Fatalf("another key's nonce: %v", err)
	}
	key := Keys{Prefix: "t:"}.Nonce(claim.Dept, claim.KeyID, claim.Nonce)
	pttl := srv.MustInt("PTTL", key)
	if pttl <= 190_000 || pttl > 200_001 {
		t.Errorf("PTTL %d ms; want the signature's remaining 200 s", pttl)
	}
	if err := b.ReleaseNonce(t.Context(), claim); err != nil {
		t.Fatal(err)
	}
	if err := b.ClaimNonce(t.Context(), claim, now); sigCode(err) != crypto.SigReplayed {
		t.Fatalf("a release by a gateway that did not hold the claim deleted it: %v", err)
	}
	if err := a.ReleaseNonce(t.Context(), claim); err != nil {
		t.Fatal(err)
	}
	if err := b.ClaimNonce(t.Context(), claim, now); err != nil {
		t.Fatalf("after the holder's release: %v", err)
	}
	// A claim whose signature goes stale in 300 ms is gone from Redis after it.
	short := crypto.NonceClaim{Dept: "d", KeyID: "k1", Nonce: "short", Expiry: time.Now().Add(300 * time.Millisecond)}
	if err := a.ClaimNonce(t.Context(), short, time.Now()); err != nil {
		t.Fatal(err)
	}
	time.Sleep(400 * time.Millisecond)
	if got := srv.MustDo("EXISTS", Keys{Prefix: "t:"}.Nonce("d", "k1", "short")); !strings.HasSuffix(got, "0") {
		t.Errorf("a stale claim is still in redis: %s", got)
	}
}

// A hostile department that signs as fast as it can fills only its own share of the
// fleet's store: past the bound it is refused (full), other departments are not, a
// release makes room, and claims restored from the audit log are never refused.
func TestReplayPerDepartmentBound(t *testing.T) {
	srv := redistest.Start(t)
	c := connect(t, redisConfig(srv.Addr))
	h := NewHealth(refuse, quiet)
	a, b := gatewayStore(t, c, 3, h), gatewayStore(t, c, 3, h)
	now := time.Now()
	claim := func(s *ReplayStore, dept, nonce string, restore bool) error {
		return s.ClaimNonce(t.Context(), crypto.NonceClaim{Dept: dept, KeyID: "k", Nonce: nonce, Expiry: now.Add(time.Duration(len(nonce)) * 20 * time.Second), Restore: restore}, now)
	}
	for i, s := range []*ReplayStore{a, b, a} {
		if err := claim(s, "hostile", strings.Repeat("x", i+1), false); err != nil {
			t.Fatal(err)
		}
	}
	if err := claim(b, "hostile", "xxxx", false); sigCode(err) != crypto.SigReplayFull {
		t.Fatalf("the fourth claim of a department bounded at 3 across two gateways: %v", err)
	}
	if err := claim(a, "polite", "x", false); err != nil {
		t.Fatalf("another department refused: %v", err)
	}
	if err := claim(b, "hostile", "xxxxx", true); err != nil {
		t.Fatalf("a restored claim refused as full: %v", err)
	}
	if err := a.ReleaseNonce(t.Context(), crypto.NonceClaim{Dept: "hostile", KeyID: "k", Nonce: "x", Expiry: now.Add(20 * time.Second)}); err != nil {
		t.Fatal(err)
	}
	if err := claim(b, "hostile", "xxxxxx", false); sigCode(err) != crypto.SigReplayFull {
		t.Fatalf("restored claims count toward the bound too: %v", err)
	}
	if err := b.ReleaseNonce(t.Context(), crypto.NonceClaim{Dept: "hostile", KeyID: "k", Nonce: "xxxxx", Expiry: now.Add(100 * time.Second)}); err != nil {
		t.Fatal(err)
	}
	if err := claim(b, "hostile", "xxxxxx", false); err != nil {
		t.Fatalf("after two releases the department has room: %v", err)
	}
}

// Concurrent requests of one department at two gateways are admitted exactly up to the
// quota; a give-back makes room for one more; the counters carry a TTL.
func TestQuotaIsFleetWide(t *testing.T) {
	srv := redistest.Start(t)
	c := connect(t, redisConfig(srv.Addr))
	h := NewHealth(refuse, quiet)
	stores := []*QuotaStore{NewQuotaStore(c, Keys{Prefix: "t:"}, time.Second, h), NewQuotaStore(c, Keys{Prefix: "t:"}, time.Second, h)}
	u := policy.QuotaUse{Consumer: "110000-shuiwu", Agreement: "AGR-1", Quota: policy.Quota{PerDay: 25, PerMinute: 1000}, At: time.Now()}
	var allowed, refused atomic.Int64
	var wg sync.WaitGroup
	for i := range 80 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := stores[i%2].CountUse(context.Background(), u)
			switch {
			case err != nil:
				t.Error(err)
			case v.Allowed:
				allowed.Add(1)
			case v.Reason.Code == "QUOTA_EXCEEDED" && v.RetryAfter > 0:
				refused.Add(1)
			default:
				t.Errorf("refused without a reason: %+v", v)
			}
		}()
	}
	wg.Wait()
	if allowed.Load() != 25 || refused.Load() != 55 {
		t.Fatalf("allowed %d, refused %d; want exactly 25 of 80", allowed.Load(), refused.Load())
	}
	if err := stores[1].ReturnUse(t.Context(), u); err != nil {
		t.Fatal(err)
	}
	if v, err := stores[0].CountUse(t.Context(), u); err != nil || !v.Allowed {
		t.Fatalf("after a give-back: %+v %v", v, err)
	}
	if v, _ := stores[0].CountUse(t.Context(), u); v.Allowed {
		t.Fatal("one give-back admitted two")
	}
	day, minute := policy.QuotaWindows(u.At)
	for _, k := range []string{Keys{Prefix: "t:"}.QuotaDay(u.Consumer, u.Agreement, day), Keys{Prefix: "t:"}.QuotaMinute(u.Consumer, u.Agreement, minute)} {
		if ttl := srv.MustInt("PTTL", k); ttl <= 0 || ttl > (24*time.Hour+windowMargin).Milliseconds() {
			t.Errorf("%s PTTL %d: a counter without a bounded TTL", k, ttl)
		}
	}
	// A give-back never creates a counter or takes one below zero.
	gone := u
	gone.Agreement = "AGR-none"
	if err := stores[0].ReturnUse(t.Context(), gone); err != nil {
		t.Fatal(err)
	}
	if got := srv.MustDo("EXISTS", Keys{Prefix: "t:"}.QuotaDay(gone.Consumer, gone.Agreement, day)); !strings.HasSuffix(got, "0") {
		t.Errorf("a give-back created a counter: %s", got)
	}
	// The per-minute quota refuses with its own reason.
	m := policy.QuotaUse{Consumer: "d2", Agreement: "AGR-2", Quota: policy.Quota{PerMinute: 1}, At: time.Now()}
	if v, _ := stores[0].CountUse(t.Context(), m); !v.Allowed {
		t.Fatal("first of the minute refused")
	}
	if v, _ := stores[1].CountUse(t.Context(), m); v.Allowed || !strings.Contains(v.Reason.Message, "a minute") {
		t.Fatalf("second of the minute: %+v", v)
	}
}

// hashTag is the part of a key Redis Cluster hashes (the cluster spec's rule).
func hashTag(key string) string {
	i := strings.IndexByte(key, '{')
	if i < 0 {
		return key
	}
	j := strings.IndexByte(key[i+1:], '}')
	if j <= 0 {
		return key
	}
	return key[i+1 : i+1+j]
}

// Every key of a department hashes on the department alone, whatever a peer puts in the
// names: a department, key id, nonce or agreement cannot end the tag early, borrow
// another department's slot, or make two different claims one key.
func TestKeysCarryTheDepartmentHashTag(t *testing.T) {
	k := Keys{Prefix: "govgate:"}
	for _, dept := range []string{"110000-shuiwu", "", "a}b", "{x}", "a:b", "%7D"} {
		tag := hashTag(k.Nonce(dept, "k", "n"))
		if tag == "" {
			t.Errorf("%q: empty hash tag", dept)
		}
		for _, key := range []string{k.Nonce(dept, "k}{", "n:x"), k.NonceBucket(dept, 7), k.QuotaDay(dept, "A}", 1), k.QuotaMinute(dept, "{A", 2)} {
			if hashTag(key) != tag {
				t.Errorf("%q: key %q hashes on %q, the department's other keys on %q", dept, key, hashTag(key), tag)
			}
		}
	}
	if hashTag(k.Nonce("a}b", "k", "n")) == hashTag(k.Nonce("a", "k", "n")) {
		t.Error("a department named a}b shares the slot tag of department a")
	}
	seen := map[string]string{}
	for _, parts := range [][3]string{{"d", "k:1", "n"}, {"d", "k", "1:n"}, {"d:k", "1", "n"}, {"d", "k%3A1", "n"}} {
		key := k.Nonce(parts[0], parts[1], parts[2])
		if prev, ok := seen[key]; ok {
			t.Errorf("%v and %s make the same key %q", parts, prev, key)
		}
		seen[key] = strings.Join(parts[:], "|")
	}
}

// syncBuffer is a log destination the health loop may write to concurrently.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Redis killed: with refuse, a claim and a count fail (not as a replay or a quota: the
// caller refuses with 503), Health is not ready and logs the outage once however many
// requests fail; restarted, the next command works, Health is ready and logs the end once.
func TestRefuseWhileRedisIsDownThenRecover(t *testing.T) {
	srv := redistest.Start(t)
	var logs syncBuffer
	h := NewHealth(refuse, slog.New(slog.NewTextHandler(&logs, nil)))
	c := connect(t, redisConfig(srv.Addr))
	replay := &Replay{Redis: gatewayStore(t, c, 0, h), Health: h}
	quota := &Quota{Redis: NewQuotaStore(c, Keys{Prefix: "t:"}, 500*time.Millisecond, h), Health: h}
	u := policy.QuotaUse{Consumer: "d", Agreement: "A", Quota: policy.Quota{PerDay: 10}, At: time.Now()}
	srv.Stop()
	for i := range 5 {
		now := time.Now()
		err := replay.ClaimNonce(t.Context(), crypto.NonceClaim{Dept: "d", KeyID: "k", Nonce: strconv.Itoa(i), Expiry: now.Add(time.Minute)}, now)
		if err == nil || sigCode(err) != "" {
			t.Fatalf("claim with redis down: %v; want a store error", err)
		}
		if v, err := quota.CountUse(t.Context(), u); err == nil || v.Allowed {
			t.Fatalf("count with redis down: %+v %v", v, err)
		}
	}
	if h.Up() || h.Ready() == nil || h.Warning() != "" {
		t.Fatalf("down: up %v ready %v warning %q", h.Up(), h.Ready(), h.Warning())
	}
	if n := strings.Count(logs.String(), "redis cannot answer"); n != 1 {
		t.Fatalf("the outage was logged %d times; want once:\n%s", n, logs.String())
	}
	srv.Restart()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	w := Watch{Client: c, Marker: Keys{Prefix: "t:"}.Marker("gw"), Interval: 50 * time.Millisecond, Timeout: time.Second}
	go func() { h.Run(ctx, w); close(done) }()
	defer func() { cancel(); <-done }()
	for deadline := time.Now().Add(15 * time.Second); !h.Up(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("health did not see redis come back")
		}
	}
	if err := h.Ready(); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if err := replay.ClaimNonce(t.Context(), crypto.NonceClaim{Dept: "d", KeyID: "k", Nonce: "after", Expiry: now.Add(time.Minute)}, now); err != nil {
		t.Fatalf("claim after recovery: %v", err)
	}
	if v, err := quota.CountUse(t.Context(), u); err != nil || !v.Allowed {
		t.Fatalf("count after recovery: %+v %v", v, err)
	}
	if n := strings.Count(logs.String(), "redis answers again"); n != 1 {
		t.Fatalf("the recovery was logged %d times; want once:\n%s", n, logs.String())
	}
}

// With local fallbacks the gateway keeps serving while Redis is down, but says so: ready
// with a DEGRADED warning, replays to this gateway still refused (locally), quotas counted
// locally; after Redis returns, a nonce claimed locally during the outage is still a
// replay here, though Redis never saw it.
func TestLocalFallbackIsDegradedAndSaysSo(t *testing.T) {
	srv := redistest.Start(t)
	h := NewHealth(gateway.SharedOnFailure{Replay: gateway.OnFailureLocal, Quota: gateway.OnFailureLocal}, quiet)
	c := connect(t, redisConfig(srv.Addr))
	replay := &Replay{Redis: gatewayStore(t, c, 0, h), Local: crypto.NewNonceCache(100), Health: h}
	quota := &Quota{Redis: NewQuotaStore(c, Keys{Prefix: "t:"}, 500*time.Millisecond, h), Local: policy.NewQuotas(), Health: h}
	srv.Stop()
	now := time.Now()
	during := crypto.NonceClaim{Dept: "d", KeyID: "k", Nonce: "during", Expiry: now.Add(time.Minute)}
	if err := replay.ClaimNonce(t.Context(), during, now); err != nil {
		t.Fatalf("local fallback claim: %v", err)
	}
	if err := replay.ClaimNonce(t.Context(), during, now); sigCode(err) != crypto.SigReplayed {
		t.Fatalf("local fallback let a replay through: %v", err)
	}
	u := policy.QuotaUse{Consumer: "d", Agreement: "A", Quota: policy.Quota{PerDay: 1}, At: now}
	if v, err := quota.CountUse(t.Context(), u); err != nil || !v.Allowed {
		t.Fatalf("local quota: %+v %v", v, err)
	}
	if v, err := quota.CountUse(t.Context(), u); err != nil || v.Allowed {
		t.Fatalf("local quota admitted past it: %+v %v", v, err)
	}
	if h.Ready() != nil || !strings.Contains(h.Warning(), "DEGRADED") || !h.degraded(FeatureReplay) || !h.degraded(FeatureQuota) {
		t.Fatalf("degraded: ready %v warning %q", h.Ready(), h.Warning())
	}
	srv.Restart()
	if err := replay.ClaimNonce(t.Context(), during, time.Now()); sigCode(err) != crypto.SigReplayed {
		t.Fatalf("a nonce claimed during the outage was accepted again after it: %v", err)
	}
	if !h.Up() || h.Warning() != "" {
		t.Fatalf("after recovery: up %v warning %q", h.Up(), h.Warning())
	}
	// ...and the Redis claim it made on the way was given back.
	if got := srv.MustDo("EXISTS", Keys{Prefix: "t:"}.Nonce("d", "k", "during")); !strings.HasSuffix(got, "0") {
		t.Errorf("the refused replay left a claim in redis: %s", got)
	}
}

// quota allow: counted nowhere while Redis is down, and said.
func TestQuotaAllowFallback(t *testing.T) {
	srv := redistest.Start(t)
	h := NewHealth(gateway.SharedOnFailure{Replay: gateway.OnFailureRefuse, Quota: gateway.OnFailureAllow}, quiet)
	c := connect(t, redisConfig(srv.Addr))
	quota := &Quota{Redis: NewQuotaStore(c, Keys{Prefix: "t:"}, 500*time.Millisecond, h), Allow: true, Health: h}
	srv.Stop()
	u := policy.QuotaUse{Consumer: "d", Agreement: "A", Quota: policy.Quota{PerDay: 1}, At: time.Now()}
	for range 3 {
		if v, err := quota.CountUse(t.Context(), u); err != nil || !v.Allowed {
			t.Fatalf("allow: %+v %v", v, err)
		}
	}
	// Replay still refuses: not ready, and the quota's fallback is a warning.
	if h.Ready() == nil || !h.degraded(FeatureQuota) || h.degraded(FeatureReplay) || h.fallbacks[1].Load() != 3 {
		t.Fatalf("ready %v degraded quota %v replay %v fallbacks %d", h.Ready(), h.degraded(FeatureQuota), h.degraded(FeatureReplay), h.fallbacks[1].Load())
	}
}

// Credentials come from the environment variables the config names: the right ones
// connect; a variable unset is an error naming it; a wrong password is refused by Redis
// and the error carries no secret.
func TestCredentialsFromEnvironment(t *testing.T) {
	const secret = "s3cret-redis-pass-Zq9"
	srv := redistest.Start(t, redistest.WithPassword(secret))
	cfg := redisConfig(srv.Addr)
	cfg.PasswordEnv = "GOVGATE_TEST_REDIS_PASSWORD"
	t.Setenv(cfg.PasswordEnv, secret)
	connect(t, cfg)

	t.Setenv(cfg.PasswordEnv, "")
	_, err := Connect(t.Context(), cfg)
	if err == nil || !strings.Contains(err.Error(), "GOVGATE_TEST_REDIS_PASSWORD") {
		t.Fatalf("unset variable: %v", err)
	}
	t.Setenv(cfg.PasswordEnv, secret+"-wrong")
	_, err = Connect(t.Context(), cfg)
	if err == nil || strings.Contains(err.Error(), secret) {
		t.Fatalf("wrong password: %v", err)
	}
	noAuth := redisConfig(srv.Addr)
	if _, err := Connect(t.Context(), noAuth); err == nil {
		t.Fatal("connected without the password redis requires")
	}
}

// Sentinel: the client finds the master through redis-sentinel, and claims work on it.
func TestSentinel(t *testing.T) {
	srv := redistest.Start(t)
	sen := redistest.StartSentinel(t, srv, "govgate-master")
	cfg := redisConfig(sen.Addr)
	cfg.Mode, cfg.SentinelMaster = gateway.RedisSentinel, sen.Master
	c := connect(t, cfg)
	h := NewHealth(refuse, quiet)
	a := gatewayStore(t, c, 0, h)
	now := time.Now()
	claim := crypto.NonceClaim{Dept: "d", KeyID: "k", Nonce: "via-sentinel", Expiry: now.Add(time.Minute)}
	if err := a.ClaimNonce(t.Context(), claim, now); err != nil {
		t.Fatal(err)
	}
	// The claim is on the master the sentinel named.
	if got := srv.MustDo("EXISTS", Keys{Prefix: "t:"}.Nonce("d", "k", "via-sentinel")); !strings.HasSuffix(got, "1") {
		t.Fatalf("claim not on the master: %s", got)
	}
	if err := a.ClaimNonce(t.Context(), claim, now); sigCode(err) != crypto.SigReplayed {
		t.Fatalf("replay through sentinel: %v", err)
	}
}

// Redis Cluster: the scripts run across three masters without a CROSSSLOT error (each
// touches one department's keys, one hash tag), departments spread over the shards, a
// claim made through one client is a replay through another, and the quota counts on the
// department's shard.
func TestCluster(t *testing.T) {
	cl := redistest.StartCluster(t, 3)
	cfg := redisConfig(cl.Addrs()...)
	cfg.Mode = gateway.RedisCluster
	a, b := connect(t, cfg), connect(t, cfg)
	h := NewHealth(refuse, quiet)
	ga, gb := gatewayStore(t, a, 100, h), gatewayStore(t, b, 100, h)
	qa := NewQuotaStore(a, Keys{Prefix: "t:"}, time.Second, h)
	now := time.Now()
	shards := map[string]bool{}
	for i := range 30 {
		dept := "dept-" + strconv.Itoa(i)
		claim := crypto.NonceClaim{Dept: dept, KeyID: "k", Nonce: "n", Expiry: now.Add(time.Minute)}
		if err := ga.ClaimNonce(t.Context(), claim, now); err != nil {
			t.Fatalf("%s: %v", dept, err)
		}
		if err := gb.ClaimNonce(t.Context(), claim, now); sigCode(err) != crypto.SigReplayed {
			t.Fatalf("%s: a replay through the other client: %v", dept, err)
		}
		if v, err := qa.CountUse(t.Context(), policy.QuotaUse{Consumer: dept, Agreement: "A", Quota: policy.Quota{PerDay: 5, PerMinute: 5}, At: now}); err != nil || !v.Allowed {
			t.Fatalf("%s quota: %+v %v", dept, v, err)
		}
		key := Keys{Prefix: "t:"}.Nonce(dept, "k", "n")
		for _, node := range cl.Nodes {
			if got, err := node.Do("EXISTS", key); err == nil && got == "(integer) 1" {
				shards[node.Addr] = true
			}
		}
	}
	if len(shards) < 2 {
		t.Fatalf("30 departments landed on %d shard(s); the hash tag should spread them", len(shards))
	}
}

// A claim sent again after its answer was lost finds its own attempt and succeeds; any
// other attempt — the same gateway, the same signature — is a replay.
func TestClaimSentAgainKnowsItsOwnAttempt(t *testing.T) {
	srv := redistest.Start(t)
	c := connect(t, redisConfig(srv.Addr))
	s := gatewayStore(t, c, 0, NewHealth(refuse, quiet))
	now := time.Now()
	claim := crypto.NonceClaim{Dept: "d", KeyID: "k", Nonce: "lost-answer", Expiry: now.Add(time.Minute)}
	keys := []string{s.keys.Nonce("d", "k", "lost-answer"), s.keys.NonceBucket("d", bucketOf(claim.Expiry))}
	value := s.value(claim) + "7"
	args := []string{value, "60000", "0", "2", "60000", "0"}
	for i, want := range []int64{1, 1} {
		if n, err := claimScript.Exec(t.Context(), c, keys, args).AsInt64(); err != nil || n != want {
			t.Fatalf("try %d of the same attempt: %d %v", i+1, n, err)
		}
	}
	if n, _ := claimScript.Exec(t.Context(), c, keys, append([]string{s.value(claim) + "8"}, args[1:]...)).AsInt64(); n != 0 {
		t.Fatalf("another attempt of the same gateway for the same nonce: %d; want a replay", n)
	}
	if err := s.ClaimNonce(t.Context(), claim, now); sigCode(err) != crypto.SigReplayed {
		t.Fatalf("the store's own next claim: %v", err)
	}
	if got := srv.MustInt("GET", keys[1]); got != 1 {
		t.Fatalf("the bucket counted %d claims for one nonce claimed once", got)
	}
	// The holder's release (any attempt of its) deletes it.
	if err := s.ReleaseNonce(t.Context(), claim); err != nil {
		t.Fatal(err)
	}
	if srv.MustInt("EXISTS", keys[0]) != 0 {
		t.Fatal("the holder's release left the claim")
	}
}

// Sentinel failover: the master is killed; the sentinel promotes its replica; the client
// follows it, claims work again on the new master, and a claim made (and replicated)
// before the failover is still a replay after it.
func TestSentinelFailover(t *testing.T) {
	master := redistest.Start(t)
	host, port := "127.0.0.1", strconv.Itoa(redistest.Port(master.Addr))
	replica := redistest.Start(t, redistest.WithConfig("replicaof "+host+" "+port))
	replica.WaitLinked(30 * time.Second)
	sen := redistest.StartSentinel(t, master, "failover-master")
	cfg := redisConfig(sen.Addr)
	cfg.Mode, cfg.SentinelMaster = gateway.RedisSentinel, sen.Master
	c := connect(t, cfg)
	h := NewHealth(refuse, quiet)
	s := gatewayStore(t, c, 0, h)
	now := time.Now()
	before := crypto.NonceClaim{Dept: "d", KeyID: "k", Nonce: "before-failover", Expiry: now.Add(time.Minute)}
	if err := s.ClaimNonce(t.Context(), before, now); err != nil {
		t.Fatal(err)
	}
	if out := master.MustDo("WAIT", "1", "10000"); !strings.HasSuffix(out, "1") {
		t.Fatalf("the claim did not reach the replica: %s", out)
	}
	// The sentinel learns of the replica from the master's INFO (every 10 s).
	for wait := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if out, err := redistest.Cli(sen.Addr, "SENTINEL", "replicas", sen.Master); err == nil && strings.Contains(out, strconv.Itoa(redistest.Port(replica.Addr))) {
			break
		}
		if time.Now().After(wait) {
			t.Fatal("the sentinel did not learn of the replica in 20 s")
		}
	}
	master.Stop()
	deadline := time.Now().Add(30 * time.Second)
	for {
		now := time.Now()
		err := s.ClaimNonce(t.Context(), crypto.NonceClaim{Dept: "d", KeyID: "k", Nonce: "after-" + now.String(), Expiry: now.Add(time.Minute)}, now)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no claim succeeded 30 s after the master died: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if role := replica.MustDo("ROLE"); !strings.Contains(role, "master") {
		t.Fatalf("the replica was not promoted: %s", role)
	}
	if err := s.ClaimNonce(t.Context(), before, time.Now()); sigCode(err) != crypto.SigReplayed {
		t.Fatalf("a claim made before the failover, replayed after it: %v", err)
	}
}

// Redis comes back empty (flushed, or restarted without persistence): the watch sees the
// marker gone, says so once in the log and the metric, calls OnLoss (the gateway claims
// its audit log's nonces again) and sets the marker again; an OnLoss that fails leaves
// the marker unset, to be tried again.
func TestDataLossIsNoticedAndRepaired(t *testing.T) {
	srv := redistest.Start(t)
	c := connect(t, redisConfig(srv.Addr))
	var logs syncBuffer
	h := NewHealth(refuse, slog.New(slog.NewTextHandler(&logs, nil)))
	var calls atomic.Int64
	fail := atomic.Bool{}
	fail.Store(true)
	w := Watch{Client: c, Marker: Keys{Prefix: "t:"}.Marker("gw"), Interval: 30 * time.Millisecond, Timeout: time.Second,
		OnLoss: func(context.Context) error {
			calls.Add(1)
			if fail.Load() {
				return errors.New("audit log unreadable")
			}
			return nil
		}}
	if err := w.Mark(t.Context()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { h.Run(ctx, w); close(done) }()
	defer func() { cancel(); <-done }()
	time.Sleep(200 * time.Millisecond)
	if calls.Load() != 0 {
		t.Fatal("OnLoss called while the marker is there")
	}
	srv.MustDo("FLUSHALL")
	for deadline := time.Now().Add(10 * time.Second); calls.Load() < 2; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("OnLoss called %d times after FLUSHALL; a failed one must be tried again", calls.Load())
		}
	}
	fail.Store(false)
	for deadline := time.Now().Add(10 * time.Second); srv.MustInt("EXISTS", w.Marker) != 1; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the marker was not set again after a successful OnLoss")
		}
	}
	n := calls.Load()
	time.Sleep(200 * time.Millisecond)
	if calls.Load() != n {
		t.Fatal("OnLoss called again with the marker set")
	}
	if h.losses.Load() < 2 || !strings.Contains(logs.String(), "lost its data") || !strings.Contains(logs.String(), "audit log unreadable") {
		t.Fatalf("losses %d, log:\n%s", h.losses.Load(), logs.String())
	}
}

// Two gateways whose clocks differ (within the signature_future_skew the verifier already
// grants clocks): the one ahead claims a nonce with the TTL its clock gives; the one behind
// still finds the signature fresh after that TTL has run out. The claim must outlive the
// signature on every gateway whose clock is behind by up to that margin, or the replay
// passes there.
func TestReplayClaimOutlivesGatewayClockSkew(t *testing.T) {
	srv := redistest.Start(t)
	c := connect(t, redisConfig(srv.Addr))
	h := NewHealth(refuse, quiet)
	const margin = 2 * time.Second
	ahead, err := NewReplayStore(c, Keys{Prefix: "t:"}, 500*time.Millisecond, 0, 330*time.Second, margin, h)
	if err != nil {
		t.Fatal(err)
	}
	behind, err := NewReplayStore(c, Keys{Prefix: "t:"}, 500*time.Millisecond, 0, 330*time.Second, margin, h)
	if err != nil {
		t.Fatal(err)
	}
	real := time.Now()
	claim := crypto.NonceClaim{Dept: "d", KeyID: "k", Nonce: "skewed", Expiry: real.Add(time.Second)}
	// The gateway ahead by 700 ms sees 300 ms of validity left.
	if err := ahead.ClaimNonce(t.Context(), claim, real.Add(700*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	// The gateway behind (the true clock) still accepts the signature for ~500 ms.
	if now := time.Now(); now.Before(claim.Expiry) {
		if err := behind.ClaimNonce(t.Context(), claim, now); sigCode(err) != crypto.SigReplayed {
			t.Fatalf("a replay to the gateway whose clock is behind passed: %v", err)
		}
	}
}

// A use counted by the local fallback while Redis was down, then given back (the exchange
// reached no provider) after Redis answers again, must not take a count from Redis: Redis
// never counted it, so the count it would take is another request's, and the fleet would
// admit one more than its quota.
func TestGiveBackOfALocalCountLeavesRedisAlone(t *testing.T) {
	srv := redistest.Start(t)
	h := NewHealth(gateway.SharedOnFailure{Replay: gateway.OnFailureRefuse, Quota: gateway.OnFailureLocal}, quiet)
	c := connect(t, redisConfig(srv.Addr))
	th := NewHealth(refuse, quiet)
	twin := &Quota{Redis: NewQuotaStore(connect(t, redisConfig(srv.Addr)), Keys{Prefix: "t:"}, 500*time.Millisecond, th), Health: th}
	quota := &Quota{Redis: NewQuotaStore(c, Keys{Prefix: "t:"}, 500*time.Millisecond, h), Local: policy.NewQuotas(), Health: h}
	u := policy.QuotaUse{Consumer: "d", Agreement: "A", Quota: policy.Quota{PerDay: 5}, At: time.Now()}
	if v, err := twin.CountUse(t.Context(), u); err != nil || !v.Allowed {
		t.Fatalf("the twin's count: %+v %v", v, err)
	}
	srv.Stop()
	mine := u
	mine.At = time.Now()
	if v, err := quota.CountUse(t.Context(), mine); err != nil || !v.Allowed {
		t.Fatalf("local count: %+v %v", v, err)
	}
	srv.Restart()
	other := policy.QuotaUse{Consumer: "d", Agreement: "other", Quota: policy.Quota{PerDay: 100}, At: time.Now()}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err := quota.Redis.CountUse(t.Context(), other); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("redis did not come back")
		}
	}
	h.observe("count", nil)
	if err := quota.ReturnUse(t.Context(), mine); err != nil {
		t.Fatal(err)
	}
	day, _ := policy.QuotaWindows(u.At)
	if got := srv.MustInt("GET", Keys{Prefix: "t:"}.QuotaDay("d", "A", day)); got != 1 {
		t.Errorf("the twin's count is %d after a give-back of a use Redis never counted; want 1", got)
	}
	// A use Redis counted while it was up is given back as before.
	fresh := u
	fresh.At = time.Now()
	if v, err := quota.CountUse(t.Context(), fresh); err != nil || !v.Allowed {
		t.Fatalf("count after recovery: %+v %v", v, err)
	}
	if err := quota.ReturnUse(t.Context(), fresh); err != nil {
		t.Fatal(err)
	}
	if got := srv.MustInt("GET", Keys{Prefix: "t:"}.QuotaDay("d", "A", day)); got != 1 {
		t.Errorf("count %d after a use counted in redis and given back; want 1", got)
	}
}

// on_failure says what a gateway does while Redis cannot answer. A Redis that answers
// with an error (out of memory under noeviction, a replica's READONLY after a failover
// the client has not followed yet) is not down: /readyz stays ready and no DEGRADED
// warning is shown, so falling back to the gateway's own state then would be weaker than
// it says. Such an answer refuses the request (503), as the documentation promises for a
// full Redis.
func TestRedisErrorReplyRefusesEvenWithFallbacks(t *testing.T) {
	srv := redistest.Start(t, redistest.WithConfig("maxmemory-policy noeviction"))
	h := NewHealth(gateway.SharedOnFailure{Replay: gateway.OnFailureLocal, Quota: gateway.OnFailureLocal}, quiet)
	c := connect(t, redisConfig(srv.Addr))
	replay := &Replay{Redis: gatewayStore(t, c, 0, h), Local: crypto.NewNonceCache(100), Health: h}
	quota := &Quota{Redis: NewQuotaStore(c, Keys{Prefix: "t:"}, 500*time.Millisecond, h), Local: policy.NewQuotas(), Health: h}
	srv.MustDo("CONFIG", "SET", "maxmemory", "1")
	now := time.Now()
	err := replay.ClaimNonce(t.Context(), crypto.NonceClaim{Dept: "d", KeyID: "k", Nonce: "oom", Expiry: now.Add(time.Minute)}, now)
	if err == nil || sigCode(err) != "" {
		t.Errorf("a claim Redis refused (OOM) was accepted: %v", err)
	}
	u := policy.QuotaUse{Consumer: "d", Agreement: "A", Quota: policy.Quota{PerDay: 5}, At: now}
	if v, err := quota.CountUse(t.Context(), u); err == nil || v.Allowed {
		t.Errorf("a count Redis refused (OOM) was admitted: %+v %v", v, err)
	}
	if !h.Up() || h.Warning() != "" {
		t.Fatalf("an error reply changed the health: up %v warning %q", h.Up(), h.Warning())
	}
}
