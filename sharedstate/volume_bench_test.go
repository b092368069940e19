package sharedstate

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/govgate/govgate/internal/redistest"
	"github.com/govgate/govgate/policy"
)

// BenchmarkVolumeWindow compares counting one released window (≈ 2,900 rows of a
// 45-byte-row CSV) in this process's memory and in Redis (one volume script round trip),
// in the same run, with concurrent transfers of 50 departments.
func BenchmarkVolumeWindow(b *testing.B) {
	srv := redistest.Start(b)
	c, err := Connect(b.Context(), redisConfig(srv.Addr))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	redis := NewVolumeStore(c, Keys{Prefix: "govgate:"}, time.Second, NewHealth(refuse, quiet))
	q := policy.Quota{RowsPerDay: 1 << 40, BytesPerDay: 1 << 50}
	for _, s := range []struct {
		name  string
		store policy.VolumeStore
	}{{"local", policy.NewVolumes()}, {"redis", redis}} {
		var n atomic.Int64
		b.Run(s.name, func(b *testing.B) {
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					u := policy.VolumeUse{Consumer: "dept-" + strconv.FormatInt(n.Add(1)%50, 10), Agreement: "AGR-1", Quota: q, At: time.Now(), Rows: 2900, Bytes: 131072}
					if v, err := s.store.AddVolume(context.Background(), u); err != nil || !v.Allowed {
						b.Errorf("%+v %v", v, err)
						return
					}
				}
			})
		})
	}
}
