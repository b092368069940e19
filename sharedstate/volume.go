package sharedstate

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/rueidis"

	"github.com/govgate/govgate/policy"
)

// volumeScript checks one released window against the day's rows and bytes and counts it,
// in one atomic step, as policy.Volumes.Add does: a window that would take either past
// its bound (0: unbounded) is counted in neither; a window of nothing asks whether the
// day is already used up. The key's TTL is set when it is created.
//
//	KEYS[1] the day's hash (fields r, b)
//	ARGV[1] rows a day; ARGV[2] bytes a day; ARGV[3] rows; ARGV[4] bytes; ARGV[5] px
//
// Returns 0 counted, 1 the day's rows used up, 2 its bytes. The increments are passed to
// HINCRBY as the strings received: a Lua number past 10^14 would be written in exponent
// form, which HINCRBY refuses.
var volumeScript = rueidis.NewLuaScript(`
local lr, lb = tonumber(ARGV[1]), tonumber(ARGV[2])
local r, b = tonumber(ARGV[3]), tonumber(ARGV[4])
local used = redis.call('HMGET', KEYS[1], 'r', 'b')
local ur, ub = tonumber(used[1] or '0'), tonumber(used[2] or '0')
local function full(u, add, limit) return limit > 0 and (u + add > limit or (add == 0 and u >= limit)) end
if full(ur, r, lr) then return 1 end
if full(ub, b, lb) then return 2 end
if r == 0 and b == 0 then return 0 end
local fresh = not used[1] and not used[2]
redis.call('HINCRBY', KEYS[1], 'r', ARGV[3])
redis.call('HINCRBY', KEYS[1], 'b', ARGV[4])
if fresh then redis.call('PEXPIRE', KEYS[1], ARGV[5]) end
return 0
`)

// VolumeStore is policy.VolumeStore on Redis: one count of rows and bytes per department,
// agreement and Beijing day for the whole fleet, one round trip per released window.
type VolumeStore struct {
	client  rueidis.Client
	keys    Keys
	timeout time.Duration
	health  *Health
}

// NewVolumeStore returns the store on client; timeout bounds each command.
func NewVolumeStore(client rueidis.Client, keys Keys, timeout time.Duration, health *Health) *VolumeStore {
	return &VolumeStore{client: client, keys: keys, timeout: timeout, health: health}
}

// AddVolume implements policy.VolumeStore in one round trip (volumeScript).
func (s *VolumeStore) AddVolume(ctx context.Context, u policy.VolumeUse) (policy.VolumeVerdict, error) {
	if !u.Quota.Bounded() {
		return policy.VolumeVerdict{Allowed: true}, nil
	}
	day, _ := policy.QuotaWindows(u.At)
	px := time.Unix((day+1)*86400-8*3600, 0).Add(windowMargin).Sub(time.Now()).Milliseconds()
	args := []string{strconv.Itoa(u.Quota.RowsPerDay), strconv.Itoa(u.Quota.BytesPerDay),
		strconv.FormatInt(u.Rows, 10), strconv.FormatInt(u.Bytes, 10), strconv.FormatInt(max(1, px), 10)}
	cctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	// Sent again after a connection failure, a window may be counted twice: stricter.
	n, err := execAgain(cctx, s.client, volumeScript, []string{s.keys.VolumeDay(u.Consumer, u.Agreement, day)}, args).AsInt64()
	s.health.observe("volume", err)
	if err != nil {
		return policy.VolumeVerdict{}, fmt.Errorf("count volume in redis: %w", err)
	}
	if n == 0 {
		return policy.VolumeVerdict{Allowed: true}, nil
	}
	return policy.VolumeVerdict{Reason: policy.VolumeExceeded(u.Agreement, u.Quota, n == 1)}, nil
}
