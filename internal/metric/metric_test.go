package metric

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// A label value the exposition can carry makes a metric; one it cannot (not UTF-8) makes
// a metric whose Write reports the error, which the registry turns into a Gather error
// for that series alone, instead of a panic in the middle of a scrape.
func TestConst(t *testing.T) {
	desc := prometheus.NewDesc("x_total", "X.", []string{"route"}, nil)
	var out dto.Metric
	if err := Const(desc, prometheus.CounterValue, 3, "a\"b\\c\nd").Write(&out); err != nil || out.GetCounter().GetValue() != 3 || out.GetLabel()[0].GetValue() != "a\"b\\c\nd" {
		t.Errorf("valid label: %v %v", err, &out)
	}
	if err := Const(desc, prometheus.CounterValue, 3, "\xff").Write(&dto.Metric{}); err == nil {
		t.Error("a label that is not UTF-8 was accepted")
	}
	if err := Const(desc, prometheus.CounterValue, 3).Write(&dto.Metric{}); err == nil {
		t.Error("a missing label was accepted")
	}
	if Flag(true) != 1 || Flag(false) != 0 {
		t.Error("Flag")
	}
}
