package sharedstate

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/govgate/govgate/gateway"
	"github.com/govgate/govgate/internal/redistest"
	"github.com/govgate/govgate/policy"
)

// volumeStores are two gateways' volume stores on one Redis, each with its own client.
func volumeStores(t *testing.T, srv *redistest.Server, h *Health) [2]*VolumeStore {
	t.Helper()
	var s [2]*VolumeStore
	for i := range s {
		s[i] = NewVolumeStore(connect(t, redisConfig(srv.Addr)), Keys{Prefix: "t:"}, time.Second, h)
	}
	return s
}

// The Redis store answers every window as policy.Volumes answers it — the same windows
// allowed, the same refused with the same reason, a window of nothing asking whether the
// day is used up — with the two gateways' windows counted in one total.
func TestVolumeStoreAnswersAsVolumes(t *testing.T) {
	srv := redistest.Start(t)
	stores := volumeStores(t, srv, NewHealth(refuse, quiet))
	local := policy.NewVolumes()
	now := time.Now()
	q := policy.Quota{RowsPerDay: 100, BytesPerDay: 5000}
	steps := []struct{ rows, bytes int64 }{
		{0, 0}, {40, 1000}, {40, 1000}, {30, 100}, // the third: 110 rows > 100, withheld
		{20, 3000}, {0, 0}, {1, 1}, // 100 rows: a window of one row is withheld, and a new transfer
		{0, 0},
	}
	for i, s := range steps {
		u := policy.VolumeUse{Consumer: "110000-shuiwu", Agreement: "AGR-1", Quota: q, At: now, Rows: s.rows, Bytes: s.bytes}
		want, _ := local.AddVolume(t.Context(), u)
		got, err := stores[i%2].AddVolume(t.Context(), u)
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if got != want {
			t.Fatalf("step %d (%d rows, %d bytes): redis %+v, in memory %+v", i, s.rows, s.bytes, got, want)
		}
	}
	if v, _ := stores[0].AddVolume(t.Context(), policy.VolumeUse{Consumer: "110000-shuiwu", Agreement: "AGR-1", Quota: q, At: now}); v.Allowed || v.Reason.Code != "VOLUME_EXCEEDED" {
		t.Fatalf("a new transfer after the day's rows: %+v", v)
	}
	// Bytes bind on their own, with their own message.
	b := policy.VolumeUse{Consumer: "110000-shuiwu", Agreement: "AGR-B", Quota: policy.Quota{BytesPerDay: 10}, At: now, Bytes: 11}
	if v, _ := stores[1].AddVolume(t.Context(), b); v.Allowed || !strings.Contains(v.Reason.Message, "10 bytes a day") {
		t.Fatalf("a window past the day's bytes: %+v", v)
	}
	// Another department, or another agreement, has its own day.
	other := policy.VolumeUse{Consumer: "110000-minzheng", Agreement: "AGR-1", Quota: q, At: now, Rows: 100}
	if v, _ := stores[0].AddVolume(t.Context(), other); !v.Allowed {
		t.Fatalf("another department's volume was taken: %+v", v)
	}
	key := Keys{Prefix: "t:"}.VolumeDay("110000-shuiwu", "AGR-1", mustDay(now))
	if hashTag(key) != "110000-shuiwu" {
		t.Errorf("%s hashes on %q", key, hashTag(key))
	}
	if got := srv.MustDo("HGET", key, "r"); !strings.Contains(got, "100") {
		t.Errorf("rows counted in redis: %s", got)
	}
	day := mustDay(now)
	end := time.Unix((day+1)*86400-8*3600, 0).Add(windowMargin)
	if ttl := srv.MustInt("PTTL", key); ttl <= 0 || ttl > time.Until(end).Milliseconds()+1000 {
		t.Errorf("%s PTTL %d ms; want until the Beijing day ends + %s (%d ms)", key, ttl, windowMargin, time.Until(end).Milliseconds())
	}
	// An agreement without a volume bound touches nothing.
	free := policy.VolumeUse{Consumer: "110000-shuiwu", Agreement: "AGR-free", Quota: policy.Quota{PerDay: 5}, At: now, Rows: 1 << 40}
	if v, err := stores[0].AddVolume(t.Context(), free); err != nil || !v.Allowed {
		t.Fatalf("an unbounded agreement: %+v %v", v, err)
	}
	if got := srv.MustDo("EXISTS", Keys{Prefix: "t:"}.VolumeDay("110000-shuiwu", "AGR-free", day)); !strings.HasSuffix(got, "0") {
		t.Errorf("an unbounded agreement created a counter: %s", got)
	}
}

func mustDay(t time.Time) int64 { d, _ := policy.QuotaWindows(t); return d }

// Byte counts past what a Lua number prints without an exponent (10^14) are counted
// exactly: a day of petabytes is not refused by HINCRBY nor rounded.
func TestVolumeStoreCountsLargeBytesExactly(t *testing.T) {
	srv := redistest.Start(t)
	s := volumeStores(t, srv, NewHealth(refuse, quiet))[0]
	q := policy.Quota{BytesPerDay: 1 << 52}
	u := policy.VolumeUse{Consumer: "d", Agreement: "A", Quota: q, At: time.Now(), Bytes: 1<<52 - 3}
	if v, err := s.AddVolume(t.Context(), u); err != nil || !v.Allowed {
		t.Fatalf("%+v %v", v, err)
	}
	u.Bytes = 3
	if v, err := s.AddVolume(t.Context(), u); err != nil || !v.Allowed {
		t.Fatalf("the last 3 bytes: %+v %v", v, err)
	}
	u.Bytes = 1
	if v, err := s.AddVolume(t.Context(), u); err != nil || v.Allowed {
		t.Fatalf("one byte past 2^52: %+v %v", v, err)
	}
	if got := srv.MustDo("HGET", Keys{Prefix: "t:"}.VolumeDay("d", "A", mustDay(u.At)), "b"); !strings.Contains(got, "4503599627370496") {
		t.Fatalf("bytes counted: %q", got)
	}
}

// Transfers racing through two gateways for one department's daily rows never release
// more than the day's volume in all, and stop within one window of it: each window is
// checked and counted in one atomic step, before it is released.
func TestVolumeRacedThroughTwoGateways(t *testing.T) {
	srv := redistest.Start(t)
	stores := volumeStores(t, srv, NewHealth(refuse, quiet))
	const quota, window = 1000, 7
	q := policy.Quota{RowsPerDay: quota}
	var released atomic.Int64
	var wg sync.WaitGroup
	for w := range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			u := policy.VolumeUse{Consumer: "d", Agreement: "A", Quota: q, At: time.Now()}
			s := stores[w%2]
			for {
				u.Rows, u.Bytes = 0, 0
				if v, err := s.AddVolume(context.Background(), u); err != nil || !v.Allowed {
					return // used up (or an error, reported below): a new transfer is refused
				}
				u.Rows, u.Bytes = window, 100
				v, err := s.AddVolume(context.Background(), u)
				if err != nil {
					t.Error(err)
					return
				}
				if !v.Allowed {
					return // this window would cross: the transfer is cut
				}
				released.Add(window)
			}
		}()
	}
	wg.Wait()
	if n := released.Load(); n > quota || n <= quota-window {
		t.Fatalf("%d rows released through two gateways against a volume of %d", n, quota)
	}
}

// While Redis cannot answer, volumes follow on_failure.quota: refuse answers an error
// (the caller withholds the window); local counts in the gateway's memory and says it is
// degraded; allow counts nothing and says so. Redis's own error answers refuse whatever
// the fallback, and leave Redis up.
func TestVolumeWhileRedisCannotAnswer(t *testing.T) {
	u := policy.VolumeUse{Consumer: "d", Agreement: "A", Quota: policy.Quota{RowsPerDay: 10}, At: time.Now(), Rows: 6}
	t.Run("refuse", func(t *testing.T) {
		srv := redistest.Start(t)
		h := NewHealth(refuse, quiet)
		v := &Volume{Redis: volumeStores(t, srv, h)[0], Health: h}
		srv.Stop()
		if verdict, err := v.AddVolume(t.Context(), u); err == nil || verdict.Allowed {
			t.Fatalf("refuse: %+v %v", verdict, err)
		}
		if h.Up() || h.Ready() == nil || !strings.Contains(h.Ready().Error(), "streamed transfers under a daily volume are refused or cut") || h.degraded(FeatureVolume) {
			t.Fatalf("refuse: up %v ready %v degraded %v", h.Up(), h.Ready(), h.degraded(FeatureVolume))
		}
		srv.Restart()
		if verdict, err := v.AddVolume(t.Context(), u); err != nil || !verdict.Allowed || !h.Up() {
			t.Fatalf("after recovery: %+v %v up %v", verdict, err, h.Up())
		}
	})
	t.Run("local", func(t *testing.T) {
		srv := redistest.Start(t)
		h := NewHealth(gateway.SharedOnFailure{Replay: gateway.OnFailureRefuse, Quota: gateway.OnFailureLocal}, quiet)
		v := &Volume{Redis: volumeStores(t, srv, h)[0], Local: policy.NewVolumes(), Health: h}
		srv.Stop()
		if verdict, err := v.AddVolume(t.Context(), u); err != nil || !verdict.Allowed {
			t.Fatalf("local: %+v %v", verdict, err)
		}
		if verdict, err := v.AddVolume(t.Context(), u); err != nil || verdict.Allowed {
			t.Fatalf("local released past the gateway's own count: %+v %v", verdict, err)
		}
		if !h.degraded(FeatureVolume) || h.fallbacks[featureIndex(FeatureVolume)].Load() != 2 || !strings.Contains(h.Warning(), "daily volumes are counted in this gateway only") {
			t.Fatalf("local: degraded %v fallbacks %d warning %q", h.degraded(FeatureVolume), h.fallbacks[featureIndex(FeatureVolume)].Load(), h.Warning())
		}
	})
	t.Run("allow", func(t *testing.T) {
		srv := redistest.Start(t)
		h := NewHealth(gateway.SharedOnFailure{Replay: gateway.OnFailureLocal, Quota: gateway.OnFailureAllow}, quiet)
		v := &Volume{Redis: volumeStores(t, srv, h)[0], Allow: true, Health: h}
		srv.Stop()
		for range 3 {
			if verdict, err := v.AddVolume(t.Context(), u); err != nil || !verdict.Allowed {
				t.Fatalf("allow: %+v %v", verdict, err)
			}
		}
		if h.Ready() != nil || !h.degraded(FeatureVolume) || !strings.Contains(h.Warning(), "daily volumes are not counted") {
			t.Fatalf("allow: ready %v degraded %v warning %q", h.Ready(), h.degraded(FeatureVolume), h.Warning())
		}
	})
	t.Run("error answer", func(t *testing.T) {
		srv := redistest.Start(t)
		h := NewHealth(gateway.SharedOnFailure{Replay: gateway.OnFailureLocal, Quota: gateway.OnFailureLocal}, quiet)
		v := &Volume{Redis: volumeStores(t, srv, h)[0], Local: policy.NewVolumes(), Health: h}
		// A careless operator's key where the day's hash belongs: WRONGTYPE.
		srv.MustDo("SET", Keys{Prefix: "t:"}.VolumeDay(u.Consumer, u.Agreement, mustDay(u.At)), "x")
		if verdict, err := v.AddVolume(t.Context(), u); err == nil || verdict.Allowed {
			t.Fatalf("a window Redis answered with an error was released: %+v %v", verdict, err)
		}
		if !h.Up() || h.Warning() != "" || h.fallbacks[featureIndex(FeatureVolume)].Load() != 0 {
			t.Fatalf("an error answer changed the health or fell back: up %v warning %q", h.Up(), h.Warning())
		}
	})
}
