package policy

import (
	"sync"
	"testing"
	"time"
)

func TestQuotaGiveBack(t *testing.T) {
	q := NewQuotas()
	quota := Quota{PerDay: 3, PerMinute: 2}
	at := time.Date(2026, 12, 2, 10, 0, 30, 0, time.UTC)
	for i := 0; i < 2; i++ {
		if _, ok := q.Take("d", "A", quota, at); !ok {
			t.Fatal("refused within quota")
		}
	}
	if _, ok := q.Take("d", "A", quota, at); ok {
		t.Fatal("per_minute 2 admitted 3")
	}
	q.GiveBack("d", "A", quota, at)
	if _, ok := q.Take("d", "A", quota, at); !ok {
		t.Fatal("a given-back request is not available again")
	}
	// Given back in the window it was counted in: at's minute is now the previous one, and
	// the new minute keeps its count.
	next := at.Add(time.Minute)
	if _, ok := q.Take("d", "A", quota, next); !ok {
		t.Fatal("refused within quota")
	}
	if _, ok := q.Take("d", "A", quota, next); ok {
		t.Fatal("per_day 3 admitted 4")
	}
	q.GiveBack("d", "A", quota, at) // the day and minute 10:00 have one back; 10:01 keeps its 1
	if _, ok := q.Take("d", "A", quota, next); !ok {
		t.Fatal("the day's given-back request is not available")
	}
	q.GiveBack("d", "A", quota, at.Add(-24*time.Hour))  // another day: nothing
	q.GiveBack("d", "A", quota, at.Add(-2*time.Minute)) // a minute no longer kept: nothing
	if _, ok := q.Take("d", "A", quota, next); ok {
		t.Fatal("a give-back for another day was counted")
	}
	// Never below zero, and unknown keys are ignored.
	q2 := NewQuotas()
	q2.GiveBack("d", "A", quota, at)
	q2.Take("d", "A", quota, at)
	q2.GiveBack("d", "A", quota, at)
	q2.GiveBack("d", "A", quota, at)
	for i := 0; i < 2; i++ {
		if _, ok := q2.Take("d", "A", quota, at); !ok {
			t.Fatal("refused within quota after give-backs")
		}
	}
	if _, ok := q2.Take("d", "A", quota, at); ok {
		t.Fatal("give-backs took the count below zero")
	}
}

func TestQuotaGiveBackConcurrent(t *testing.T) {
	q := NewQuotas()
	quota := Quota{PerMinute: 1000}
	at := time.Date(2026, 12, 2, 10, 0, 30, 0, time.UTC)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 100; i++ {
				if _, ok := q.Take("d", "A", quota, at); ok && i%2 == 0 {
					q.GiveBack("d", "A", quota, at)
				}
			}
		}()
	}
	wg.Wait()
	if c := q.counts[quotaKey{"d", "A"}]; c.minute[0].count != 400 || c.day[0].count != 400 {
		t.Errorf("after 800 takes and 400 give-backs the counts are %d a minute, %d a day", c.minute[0].count, c.day[0].count)
	}
}
