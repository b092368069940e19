package sharedstate

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/govgate/govgate/crypto"
	"github.com/govgate/govgate/internal/redistest"
	"github.com/govgate/govgate/policy"
)

// keyID is the shape of a real key id (a certificate serial in hex), nonceOf of a real
// nonce (16 random bytes, base64url: 22 characters), so that memory is measured on keys
// of the size a fleet stores.
const keyID = "5f1c0e9a7b3d2c4e6f8091a2b3c4d5e6f708192a"

func nonceOf(i int64) string { return fmt.Sprintf("%022d", i) }

// BenchmarkClaim compares one nonce claim in this process's cache and in Redis (one
// round trip, concurrent claims pipelined by rueidis), in the same run.
func BenchmarkClaim(b *testing.B) {
	srv := redistest.Start(b)
	c, err := Connect(b.Context(), redisConfig(srv.Addr))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	h := NewHealth(refuse, quiet)
	redis, err := NewReplayStore(c, Keys{Prefix: "govgate:"}, time.Second, 250_000, 330*time.Second, 0, h)
	if err != nil {
		b.Fatal(err)
	}
	for _, s := range []struct {
		name  string
		store crypto.ReplayStore
	}{{"local", crypto.NewNonceCacheShared(100_000_000, 100_000_000)}, {"redis", redis}} {
		var n atomic.Int64 // across the reruns of b.Run: every claim a new nonce
		b.Run(s.name, func(b *testing.B) {
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := n.Add(1)
					now := time.Now()
					err := s.store.ClaimNonce(context.Background(), crypto.NonceClaim{Dept: "dept-" + strconv.FormatInt(i%50, 10), KeyID: keyID, Nonce: nonceOf(i) + s.name, Expiry: now.Add(300 * time.Second)}, now)
					if err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkQuotaCount is one check-and-count of a quota in Redis.
func BenchmarkQuotaCount(b *testing.B) {
	srv := redistest.Start(b)
	c, err := Connect(b.Context(), redisConfig(srv.Addr))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	q := NewQuotaStore(c, Keys{Prefix: "govgate:"}, time.Second, NewHealth(refuse, quiet))
	u := policy.QuotaUse{Consumer: "110000-shuiwu", Agreement: "AGR-2025-0219", Quota: policy.Quota{PerDay: 1 << 30, PerMinute: 1 << 30}, At: time.Now()}
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if v, err := q.CountUse(context.Background(), u); err != nil || !v.Allowed {
				b.Error(v, err)
				return
			}
		}
	})
}

// BenchmarkNonceMemory claims b.N nonces of realistic size from 50 departments and reports
// Redis's used_memory (INFO memory) per nonce: run with -benchtime 200000x or more.
func BenchmarkNonceMemory(b *testing.B) {
	srv := redistest.Start(b, redistest.WithConfig("appendonly no"))
	c, err := Connect(b.Context(), redisConfig(srv.Addr))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	store, err := NewReplayStore(c, Keys{Prefix: "govgate:"}, 5*time.Second, 0, 330*time.Second, 0, NewHealth(refuse, quiet))
	if err != nil {
		b.Fatal(err)
	}
	before := usedMemory(b, srv)
	var n atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			now := time.Now()
			if err := store.ClaimNonce(context.Background(), crypto.NonceClaim{Dept: "1100" + strconv.FormatInt(i%50, 10) + "-dept", KeyID: keyID, Nonce: nonceOf(i), Expiry: now.Add(300 * time.Second)}, now); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	after := usedMemory(b, srv)
	b.ReportMetric(float64(after-before)/float64(b.N), "bytes/nonce")
	b.ReportMetric(float64(after-before)/float64(b.N)*1e6/(1<<20), "MiB/million-nonces")
}

func usedMemory(b *testing.B, srv *redistest.Server) int64 {
	b.Helper()
	for _, line := range strings.Split(srv.MustDo("INFO", "memory"), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "used_memory:"); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			return n
		}
	}
	b.Fatal("no used_memory in INFO memory")
	return 0
}
