package sharedstate

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/rueidis"

	"github.com/govgate/govgate/policy"
)

// countScript checks and counts one request against the day's and the minute's quota in
// one atomic step; a window without a quota (0) is neither checked nor counted. A
// counter's TTL is set when it is created, so it expires after its window.
//
//	KEYS[1] day counter; KEYS[2] minute counter
//	ARGV[1] per-day quota; ARGV[2] per-minute quota; ARGV[3] day px; ARGV[4] minute px
//
// Returns 0 counted, 1 the day's quota used up, 2 the minute's.
var countScript = rueidis.NewLuaScript(`
local pd, pm = tonumber(ARGV[1]), tonumber(ARGV[2])
if pd > 0 and tonumber(redis.call('GET', KEYS[1]) or '0') >= pd then return 1 end
if pm > 0 and tonumber(redis.call('GET', KEYS[2]) or '0') >= pm then return 2 end
if pd > 0 and redis.call('INCR', KEYS[1]) == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
if pm > 0 and redis.call('INCR', KEYS[2]) == 1 then redis.call('PEXPIRE', KEYS[2], ARGV[4]) end
return 0
`)

// returnScript gives back one count in each window with a quota, only while it is above
// zero (a counter that expired is not created again).
//
//	KEYS as countScript; ARGV[1], ARGV[2] the quotas
var returnScript = rueidis.NewLuaScript(`
for i = 1, 2 do
  if tonumber(ARGV[i]) > 0 and tonumber(redis.call('GET', KEYS[i]) or '0') > 0 then redis.call('DECR', KEYS[i]) end
end
return 0
`)

// windowMargin keeps a counter past its window's end, for exchanges decided late (a
// request that started before midnight and is decided after it counts in its own day).
const windowMargin = 10 * time.Minute

// QuotaStore is policy.QuotaStore on Redis: one count per department, agreement and
// window for the whole fleet.
type QuotaStore struct {
	client  rueidis.Client
	keys    Keys
	timeout time.Duration
	health  *Health
}

// NewQuotaStore returns the store on client; timeout bounds each command.
func NewQuotaStore(client rueidis.Client, keys Keys, timeout time.Duration, health *Health) *QuotaStore {
	return &QuotaStore{client: client, keys: keys, timeout: timeout, health: health}
}

// CountUse implements policy.QuotaStore in one round trip (countScript).
func (s *QuotaStore) CountUse(ctx context.Context, u policy.QuotaUse) (policy.QuotaVerdict, error) {
	if u.Quota.PerDay == 0 && u.Quota.PerMinute == 0 {
		return policy.QuotaVerdict{Allowed: true}, nil
	}
	keys, day, minute := s.windowKeys(u)
	now := time.Now()
	dayPX := time.Unix((day+1)*86400-8*3600, 0).Add(windowMargin).Sub(now).Milliseconds()
	minutePX := time.Unix((minute+1)*60, 0).Add(windowMargin).Sub(now).Milliseconds()
	args := []string{strconv.Itoa(u.Quota.PerDay), strconv.Itoa(u.Quota.PerMinute),
		strconv.FormatInt(max(1, dayPX), 10), strconv.FormatInt(max(1, minutePX), 10)}
	cctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	n, err := execAgain(cctx, s.client, countScript, keys, args).AsInt64()
	s.health.observe("count", err)
	if err != nil {
		return policy.QuotaVerdict{}, fmt.Errorf("count quota in redis: %w", err)
	}
	switch n {
	case 0:
		return policy.QuotaVerdict{Allowed: true}, nil
	case 1:
		r, wait := policy.DayQuotaExceeded(u.Agreement, u.Quota, u.At)
		return policy.QuotaVerdict{Reason: r, RetryAfter: wait}, nil
	default:
		r, wait := policy.MinuteQuotaExceeded(u.Agreement, u.Quota, u.At)
		return policy.QuotaVerdict{Reason: r, RetryAfter: wait}, nil
	}
}

// ReturnUse implements policy.QuotaStore (returnScript): in the windows numbered as the
// use's own, as Quotas.GiveBack does.
func (s *QuotaStore) ReturnUse(ctx context.Context, u policy.QuotaUse) error {
	if u.Quota.PerDay == 0 && u.Quota.PerMinute == 0 {
		return nil
	}
	keys, _, _ := s.windowKeys(u)
	cctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	err := returnScript.Exec(cctx, s.client, keys, []string{strconv.Itoa(u.Quota.PerDay), strconv.Itoa(u.Quota.PerMinute)}).Error()
	s.health.observe("return", err)
	if err != nil {
		return fmt.Errorf("return quota in redis: %w", err)
	}
	return nil
}

// windowKeys are the use's day and minute counters, named by the windows of its start.
func (s *QuotaStore) windowKeys(u policy.QuotaUse) ([]string, int64, int64) {
	day, minute := policy.QuotaWindows(u.At)
	return []string{s.keys.QuotaDay(u.Consumer, u.Agreement, day), s.keys.QuotaMinute(u.Consumer, u.Agreement, minute)}, day, minute
}
