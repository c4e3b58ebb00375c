// Unit tests of the aggregation: exact nearest-rank percentiles, the worker pool's counting of samples
// and errors, and the result's derived figures. Run: cd bench/loadgen && go test ./...
package main

import (
	"errors"
	"fmt"
	"math/rand"
	"sync/atomic"
	"testing"
	"time"
)

func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

func TestSummarizeIsNearestRankOverShuffledSamples(t *testing.T) {
	samples := make([]time.Duration, 0, 100)
	for i := 1; i <= 100; i++ {
		samples = append(samples, ms(i))
	}
	rand.New(rand.NewSource(1)).Shuffle(len(samples), func(i, j int) { samples[i], samples[j] = samples[j], samples[i] })
	got := summarize(samples)
	want := Latency{P50: 50, P90: 90, P99: 99, Max: 100}
	if got != want {
		t.Fatalf("summarize(1..100 ms) = %+v, want %+v", got, want)
	}
}

func TestPercentileRanks(t *testing.T) {
	// Ten samples 10..100 ms: rank = ceil(p/100 * 10).
	sorted := []time.Duration{ms(10), ms(20), ms(30), ms(40), ms(50), ms(60), ms(70), ms(80), ms(90), ms(100)}
	cases := []struct {
		p    float64
		want time.Duration
	}{{0, ms(10)}, {1, ms(10)}, {10, ms(10)}, {11, ms(20)}, {50, ms(50)}, {51, ms(60)}, {90, ms(90)}, {99, ms(100)}, {100, ms(100)}}
	for _, c := range cases {
		if got := percentile(sorted, c.p); got != c.want {
			t.Errorf("percentile(p%v) = %v, want %v", c.p, got, c.want)
		}
	}
	if got := percentile(nil, 50); got != 0 {
		t.Errorf("percentile of no samples = %v, want 0", got)
	}
	one := []time.Duration{1500 * time.Microsecond}
	if got := summarize(one); got != (Latency{P50: 1.5, P90: 1.5, P99: 1.5, Max: 1.5}) {
		t.Errorf("summarize(one sample of 1.5 ms) = %+v", got)
	}
}

func TestSummarizeKeepsMicrosecondPrecision(t *testing.T) {
	got := summarize([]time.Duration{1234567 * time.Nanosecond})
	if got.P50 != 1.235 {
		t.Fatalf("p50 of 1.234567 ms = %v, want 1.235 (rounded to the microsecond)", got.P50)
	}
}

func TestPoolRunsEveryIndexOnceAndCountsFailures(t *testing.T) {
	const n, c = 1000, 16
	var seen [n]atomic.Int32
	r := measure(func(r *run) {
		pool(r, n, c, func(i int) error {
			seen[i].Add(1)
			if i%10 == 3 {
				return fmt.Errorf("refused %d", i)
			}
			return nil
		})
	})
	for i := range seen {
		if got := seen[i].Load(); got != 1 {
			t.Fatalf("index %d ran %d times, want once", i, got)
		}
	}
	if r.errs.count != 100 || len(r.samples) != 900 {
		t.Fatalf("errors %d samples %d, want 100 and 900", r.errs.count, len(r.samples))
	}
	res := r.result("get", "t", n, c)
	if res.Errors != 100 || res.Samples != 900 || res.Requests != n || res.Concurrency != c {
		t.Fatalf("result counts %+v", res)
	}
	if res.FirstError == "" {
		t.Fatal("firstError is empty although 100 requests failed")
	}
}

func TestResultDerivesThroughputAndUtilization(t *testing.T) {
	r := &run{wall: 2 * time.Second, cpu: 1.0, samples: []time.Duration{ms(1), ms(3)}}
	r.errs.add(errors.New("boom"))
	res := r.result("patch", "target", 3, 4)
	if res.Throughput != 1 { // 2 successes in 2 s
		t.Errorf("throughput = %v, want 1 (successes per second)", res.Throughput)
	}
	want := round(1.0/2.0/float64(res.Cores), 3)
	if res.ClientCPUUtilization != want {
		t.Errorf("clientCpuUtilization = %v, want %v (cpu / wall / %d cores)", res.ClientCPUUtilization, want, res.Cores)
	}
	if res.FirstError != "boom" || res.Errors != 1 || res.LatencyMs.Max != 3 || res.LatencyMs.P50 != 1 {
		t.Errorf("result %+v", res)
	}
}

func TestEtcdValueIsTheTargetSizeAndChangesWithGeneration(t *testing.T) {
	a, b := etcdValue("w-00000", 1), etcdValue("w-00000", 2)
	if len(a) < etcdValueSize-5 || len(a) > etcdValueSize+5 {
		t.Errorf("value is %d bytes, want about %d", len(a), etcdValueSize)
	}
	if a == b {
		t.Error("values of two generations are equal: a put would not change the object")
	}
}

func TestValidateRefusesAWholeKeyspacePrefix(t *testing.T) {
	for _, prefix := range []string{"", "/", "registry"} {
		_, err := parseFlags([]string{"-scenario", "etcd-put", "-etcd-prefix", prefix})
		if err == nil {
			t.Errorf("-etcd-prefix %q accepted", prefix)
		}
	}
	if _, err := parseFlags([]string{"-scenario", "etcd-put", "-etcd-prefix", "/bench-loadgen-test"}); err != nil {
		t.Errorf("a subtree prefix refused: %v", err)
	}
}
