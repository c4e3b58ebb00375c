// Measurement and aggregation: the worker pool that drives a scenario, exact percentiles over every
// latency sample, the process's own CPU time (getrusage), and the one JSON result line.
package main

import (
	"context"
	"math"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Latency is the summary of all samples, in milliseconds.
type Latency struct {
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

// Result is the JSON object printed on stdout (the contract's fields first, then additions).
type Result struct {
	Scenario             string  `json:"scenario"`
	Target               string  `json:"target"`
	Requests             int     `json:"requests"`
	Errors               int     `json:"errors"`
	FirstError           string  `json:"firstError"`
	Seconds              float64 `json:"seconds"`
	Throughput           float64 `json:"throughput"`
	LatencyMs            Latency `json:"latencyMs"`
	ClientCPUSeconds     float64 `json:"clientCpuSeconds"`
	ClientCPUUtilization float64 `json:"clientCpuUtilization"`
	Concurrency          int     `json:"concurrency"`
	// Additions (see "loadgen changes" in the contract).
	Samples        int      `json:"samples"`
	Cores          int      `json:"cores"`
	SetupOnly      bool     `json:"setupOnly,omitempty"`
	Objects        int      `json:"objects,omitempty"`
	Page           int      `json:"page,omitempty"`
	ItemsPerList   int      `json:"itemsPerList,omitempty"`
	PagesPerList   int      `json:"pagesPerList,omitempty"`
	Watchers       int      `json:"watchers,omitempty"`
	Events         int      `json:"events,omitempty"`
	EarlyEvents    int      `json:"earlyEvents,omitempty"`
	WriteLatencyMs *Latency `json:"writeLatencyMs,omitempty"`
	// Watch: receipt minus the write's start, never negative; it shows how early "early" events were.
	FromWriteStartMs *Latency `json:"fromWriteStartMs,omitempty"`
}

// percentile is the nearest-rank percentile of an ascending slice: the smallest sample such that at
// least p% of the samples are <= it (p50 of 1..100 is 50, p99 is 99, p100 is the max). Exact: every
// sample is kept, nothing is bucketed or interpolated.
func percentile(sorted []time.Duration, p float64) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(n)))
	if rank < 1 {
		rank = 1
	}
	if rank > n {
		rank = n
	}
	return sorted[rank-1]
}

// summarize sorts the samples in place and returns their percentiles in milliseconds.
func summarize(samples []time.Duration) Latency {
	sort.Slice(samples, func(i, j int) bool { return samples[i] < samples[j] })
	ms := func(d time.Duration) float64 { return round(float64(d)/float64(time.Millisecond), 3) }
	return Latency{
		P50: ms(percentile(samples, 50)),
		P90: ms(percentile(samples, 90)),
		P99: ms(percentile(samples, 99)),
		Max: ms(percentile(samples, 100)),
	}
}

func round(v float64, digits int) float64 {
	f := math.Pow(10, float64(digits))
	return math.Round(v*f) / f
}

// cpuSeconds is this process's user+system CPU time so far, all threads included.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	tv := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return tv(ru.Utime) + tv(ru.Stime)
}

// errorLog counts failures and keeps the first message, from any goroutine.
type errorLog struct {
	mu    sync.Mutex
	count int
	first string
}

func (e *errorLog) add(err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.count++
	if e.first == "" {
		e.first = err.Error()
	}
}

// run is one measured phase: its latency samples (successes only: a fast refusal is not a latency),
// errors, wall and CPU time.
type run struct {
	samples []time.Duration
	errs    errorLog
	wall    time.Duration
	cpu     float64
}

// measure times the phase fn and the process CPU it used.
func measure(fn func(r *run)) *run {
	r := &run{}
	cpu0 := cpuSeconds()
	t0 := time.Now()
	fn(r)
	r.wall = time.Since(t0)
	r.cpu = cpuSeconds() - cpu0
	return r
}

// pool sends n operations from c workers; each worker takes the next index from a shared counter, so
// a slow request never holds up the others. op(i) is timed; only its successes become samples.
func pool(r *run, n, c int, op func(i int) error) {
	if c < 1 {
		c = 1
	}
	var next atomic.Int64
	perWorker := make([][]time.Duration, c)
	var wg sync.WaitGroup
	for w := 0; w < c; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			local := make([]time.Duration, 0, n/c+1)
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					break
				}
				t0 := time.Now()
				err := op(i)
				d := time.Since(t0)
				if err != nil {
					r.errs.add(err)
					continue
				}
				local = append(local, d)
			}
			perWorker[w] = local
		}(w)
	}
	wg.Wait()
	for _, s := range perWorker {
		r.samples = append(r.samples, s...)
	}
}

// timedScenario runs one request-per-operation scenario: n operations from o.concurrency workers, each
// with its own request timeout, reported as scenario over o.objects objects.
func timedScenario(o *options, scenario string, n int, op func(ctx context.Context, i int) error) Result {
	r := measure(func(r *run) {
		pool(r, n, o.concurrency, func(i int) error {
			ctx, cancel := timeout()
			defer cancel()
			return op(ctx, i)
		})
	})
	res := r.result(scenario, o.label, n, o.concurrency)
	res.Objects = o.objects
	return res
}

// result aggregates a run: throughput counts successful operations per wall second;
// clientCpuUtilization is CPU seconds / wall seconds / cores this process may use.
func (r *run) result(scenario, target string, requests, concurrency int) Result {
	cores := runtime.NumCPU()
	secs := r.wall.Seconds()
	res := Result{
		Scenario:         scenario,
		Target:           target,
		Requests:         requests,
		Errors:           r.errs.count,
		FirstError:       r.errs.first,
		Seconds:          round(secs, 4),
		LatencyMs:        summarize(r.samples),
		ClientCPUSeconds: round(r.cpu, 3),
		Concurrency:      concurrency,
		Samples:          len(r.samples),
		Cores:            cores,
	}
	if secs > 0 {
		res.Throughput = round(float64(requests-r.errs.count)/secs, 1)
		res.ClientCPUUtilization = round(r.cpu/secs/float64(cores), 3)
	}
	return res
}
