package sharedstate

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"

	"github.com/govgate/govgate/crypto"
)

// NonceBucket is the width of the time buckets that count a department's live claims
// by the time their signatures go stale. The bound is summed over whole buckets, so a
// claim is counted up to one bucket after it went stale: stricter, never looser.
const NonceBucket = 30 * time.Second

// claimScript claims a nonce in one atomic step: refused as a replay if the key exists
// (unless it holds this very attempt's value: the answer to a first try was lost);
// refused as full if the department's live claims (the buckets from now to the furthest
// expiry) reach the bound, unless the claim is restored from the audit log; else SET NX
// PX with the signature's remaining validity and counted in its expiry's bucket.
//
//	KEYS[1] nonce key; KEYS[2..] the department's buckets, now to the furthest expiry
//	ARGV[1] value (owner:expiry:attempt); ARGV[2] px; ARGV[3] per-department bound (0: none);
//	ARGV[4] index in KEYS of the claim's own bucket; ARGV[5] its px; ARGV[6] "1" = restore
//
// Returns 1 claimed, 0 replayed, 2 full.
var claimScript = rueidis.NewLuaScript(`
local held = redis.call('GET', KEYS[1])
if held then
  if held == ARGV[1] then return 1 end
  return 0
end
local bound = tonumber(ARGV[3])
if bound > 0 and ARGV[6] ~= '1' then
  local n = 0
  for i = 2, #KEYS do n = n + tonumber(redis.call('GET', KEYS[i]) or '0') end
  if n >= bound then return 2 end
end
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 0 end
local b = KEYS[tonumber(ARGV[4])]
if redis.call('INCR', b) == 1 then redis.call('PEXPIRE', b, ARGV[5]) end
return 1
`)

// releaseScript deletes a claim only while it is still this one (compare and delete),
// and takes it from its bucket's count.
//
//	KEYS[1] nonce key; KEYS[2] its bucket; ARGV[1] the claim's value up to its attempt
var releaseScript = rueidis.NewLuaScript(`
local held = redis.call('GET', KEYS[1])
if not held or string.sub(held, 1, #ARGV[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
if tonumber(redis.call('GET', KEYS[2]) or '0') > 0 then redis.call('DECR', KEYS[2]) end
return 1
`)

// ReplayStore is crypto.ReplayStore on Redis: nonce claims shared by every gateway of a
// fleet. Claims expire with their signatures (PX), so Redis holds no claim longer than
// the signature window.
type ReplayStore struct {
	client  rueidis.Client
	keys    Keys
	timeout time.Duration
	// perDept bounds a department's live claims (tlcp.max_nonces_per_dept); 0 is none.
	perDept int
	// window is the furthest a claim's expiry lies after now: Skew + FutureSkew.
	window time.Duration
	// margin keeps every claim this much past its signature's expiry: the fleet's
	// gateways each judge a signature fresh by their own clock, and one whose clock is
	// behind the claiming gateway's by up to margin must still find the claim.
	margin time.Duration
	// owner marks this store's claims, so that a release deletes only its own; attempts
	// numbers each claim, so that a claim sent again after a lost answer knows its own.
	owner    string
	attempts atomic.Uint64
	health   *Health
}

// NewReplayStore returns the store on client. timeout bounds each command; perDept is
// the per-department bound; window is how far ahead of now a claim's expiry may lie;
// margin is how long a claim outlives its signature, for the clocks of the fleet's
// gateways (the verifier's future skew, the difference of clocks it already admits).
func NewReplayStore(client rueidis.Client, keys Keys, timeout time.Duration, perDept int, window, margin time.Duration, health *Health) (*ReplayStore, error) {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("replay store owner id: %w", err)
	}
	return &ReplayStore{client: client, keys: keys, timeout: timeout, perDept: perDept, window: window, margin: margin, owner: hex.EncodeToString(b), health: health}, nil
}

// ClaimNonce implements crypto.ReplayStore in one round trip (claimScript).
func (s *ReplayStore) ClaimNonce(ctx context.Context, c crypto.NonceClaim, now time.Time) error {
	keep := c.Expiry.Add(s.margin)
	px := max(1, keep.Sub(now).Milliseconds()+1)
	first, last := bucketOf(now), bucketOf(now.Add(s.window+s.margin))
	own := bucketOf(keep)
	first, last = min(first, own), max(last, own)
	keys := make([]string, 0, 2+last-first)
	keys = append(keys, s.keys.Nonce(c.Dept, c.KeyID, c.Nonce))
	for b := first; b <= last; b++ {
		keys = append(keys, s.keys.NonceBucket(c.Dept, b))
	}
	restore := "0"
	if c.Restore {
		restore = "1"
	}
	value := s.value(c) + strconv.FormatUint(s.attempts.Add(1), 36)
	args := []string{value, strconv.FormatInt(px, 10), strconv.Itoa(s.perDept),
		strconv.FormatInt(own-first+2, 10), strconv.FormatInt(bucketPX(own, now), 10), restore}
	cctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	n, err := execAgain(cctx, s.client, claimScript, keys, args).AsInt64()
	s.health.observe("claim", err)
	if err != nil {
		return fmt.Errorf("claim nonce in redis: %w", err)
	}
	switch n {
	case 1:
		return nil
	case 0:
		return &crypto.SignatureError{Code: crypto.SigReplayed, Reason: fmt.Sprintf("nonce %q was already used with this key (at this or another gateway of the fleet)", c.Nonce)}
	default:
		return &crypto.SignatureError{Code: crypto.SigReplayFull, Reason: fmt.Sprintf("%v: department %q holds its whole share (%d) of the fleet's replay store; older signatures expire within the skew", crypto.ErrReplayCacheFull, c.Dept, s.perDept)}
	}
}

// ReleaseNonce implements crypto.ReplayStore: compare and delete (releaseScript).
func (s *ReplayStore) ReleaseNonce(ctx context.Context, c crypto.NonceClaim) error {
	keys := []string{s.keys.Nonce(c.Dept, c.KeyID, c.Nonce), s.keys.NonceBucket(c.Dept, bucketOf(c.Expiry.Add(s.margin)))}
	cctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	err := execAgain(cctx, s.client, releaseScript, keys, []string{s.value(c)}).Error()
	s.health.observe("release", err)
	if err != nil {
		return fmt.Errorf("release nonce in redis: %w", err)
	}
	return nil
}

// value is what a claim stores, up to its attempt: who claimed it, and the signature's
// expiry.
func (s *ReplayStore) value(c crypto.NonceClaim) string {
	return s.owner + ":" + strconv.FormatInt(c.Expiry.UnixNano(), 10) + ":"
}

// execAgain runs script, and once more when the first try failed on the connection (not
// with Redis's own answer) and time is left: after Redis restarts, each pooled connection
// fails once before the client dials it again, and a request should not be refused for
// that. Only scripts that are safe to run twice use it: claim (which knows its own
// attempt), release (compare and delete) and count (a count made twice is stricter).
func execAgain(ctx context.Context, c rueidis.Client, script *rueidis.Lua, keys, args []string) rueidis.RedisResult {
	r := script.Exec(ctx, c, keys, args)
	if err := r.Error(); err != nil && ctx.Err() == nil {
		if _, isReply := rueidis.IsRedisErr(err); !isReply {
			return script.Exec(ctx, c, keys, args)
		}
	}
	return r
}

func bucketOf(t time.Time) int64 { return t.UnixNano() / int64(NonceBucket) }

// bucketPX keeps bucket b's count until one bucket after its last claim goes stale.
func bucketPX(b int64, now time.Time) int64 {
	end := time.Unix(0, (b+2)*int64(NonceBucket))
	return max(1, end.Sub(now).Milliseconds())
}
