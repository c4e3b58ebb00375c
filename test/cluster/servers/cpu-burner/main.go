// cpu-burner is the test bed's load target for HorizontalPodAutoscaler tests, after Kubernetes'
// resource-consumer:
//
//	GET /consume?millicores=N&durationSec=S   burns about N millicores of CPU for S seconds, in the
//	                                          background; answers at once. POST works too, and so does
//	                                          resource-consumer's path /ConsumeCPU. Requests add up.
//	GET /                                     200, with the millicores being burnt now
//	GET /stop                                 ends every burn at once (POST works too)
//
// One loop does all the burning: in every 100 ms period it starts one spinning goroutine per 1000
// millicores asked (at most GOMAXPROCS, which since Go 1.25 follows the container's CPU limit) and
// stops them all once the process's CPU time (getrusage RUSAGE_SELF) has grown by the total asked for the
// period, then sleeps for the rest. Counting the process's own CPU time, not wall time, keeps the figure
// honest on a busy machine (a preempted thread does not count time it waited) and includes the process's
// other work (HTTP, the runtime), so what the kubelet measures for the container is what was asked.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os/signal"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

const (
	period         = 100 * time.Millisecond
	maxMillicores  = 64000
	maxDurationSec = 3600
)

// version is set at link time (-X main.version=...).
var version = "dev"

var (
	burning atomic.Int64             // millicores asked for now, over all requests
	wake    = make(chan struct{}, 1) // burnLoop waits on it while nothing is asked
	sink    atomic.Uint64
)

func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// spin does roughly 20 µs of integer work.
func spin() {
	x := sink.Load()
	for i := 0; i < 20000; i++ {
		x = x*6364136223846793005 + 1442695040888963407
	}
	sink.Store(x)
}

// burnLoop runs for the life of the process, idle while nothing is asked.
func burnLoop() {
	for start := time.Now(); ; start = start.Add(period) {
		millicores := burning.Load()
		if millicores <= 0 {
			<-wake
			start = time.Now().Add(-period)
			continue
		}
		end := start.Add(period)
		if now := time.Now(); now.After(end) { // fell behind (machine busy, or the process was stopped)
			start, end = now, now.Add(period)
		}
		busy := period * time.Duration(millicores) / 1000
		workers := min(int((millicores+999)/1000), runtime.GOMAXPROCS(0))
		cpu0 := processCPU()
		var wg sync.WaitGroup
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for processCPU()-cpu0 < busy && time.Now().Before(end) {
					spin()
				}
			}()
		}
		wg.Wait()
		time.Sleep(time.Until(end))
	}
}

// epoch counts /stop calls: a burn's end only subtracts what it added if no stop came in between.
var (
	epochMu sync.Mutex
	epoch   int
)

func burn(millicores int, duration time.Duration) {
	epochMu.Lock()
	started := epoch
	burning.Add(int64(millicores))
	epochMu.Unlock()
	select {
	case wake <- struct{}{}:
	default:
	}
	time.AfterFunc(duration, func() {
		epochMu.Lock()
		defer epochMu.Unlock()
		if epoch == started {
			burning.Add(-int64(millicores))
		}
	})
}

// stopAll ends every burn at once, so a test can end the load the moment it has seen its effect.
func stopAll(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		http.Error(w, "use GET or POST", http.StatusMethodNotAllowed)
		return
	}
	epochMu.Lock()
	epoch++
	burning.Store(0)
	epochMu.Unlock()
	log.Printf("stopped every burn (from %s)", r.RemoteAddr)
	fmt.Fprintln(w, "stopped")
}

func intParam(r *http.Request, name string, max int) (int, error) {
	v, err := strconv.Atoi(r.URL.Query().Get(name))
	if err != nil || v < 1 || v > max {
		return 0, fmt.Errorf("%s must be an integer from 1 to %d", name, max)
	}
	return v, nil
}

func consume(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		http.Error(w, "use GET or POST", http.StatusMethodNotAllowed)
		return
	}
	millicores, err := intParam(r, "millicores", maxMillicores)
	if err == nil {
		var seconds int
		if seconds, err = intParam(r, "durationSec", maxDurationSec); err == nil {
			burn(millicores, time.Duration(seconds)*time.Second)
			log.Printf("burning %d millicores for %ds (from %s)", millicores, seconds, r.RemoteAddr)
			fmt.Fprintf(w, "burning %d millicores for %d seconds\n", millicores, seconds)
			return
		}
	}
	http.Error(w, err.Error(), http.StatusBadRequest)
}

func main() {
	listen := flag.String("listen", ":8080", "address to serve on")
	showVersion := flag.Bool("version", false, "print the version and exit")
	flag.Parse()
	if *showVersion {
		fmt.Printf("cpu-burner %s (%s)\n", version, runtime.Version())
		return
	}

	mux := http.NewServeMux()
	mux.HandleFunc("/consume", consume)
	mux.HandleFunc("/ConsumeCPU", consume)
	mux.HandleFunc("/stop", stopAll)
	mux.HandleFunc("/{$}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "cpu-burner %s: burning %d millicores\n", version, burning.Load())
	})
	srv := &http.Server{Addr: *listen, Handler: mux, ReadHeaderTimeout: 10 * time.Second}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	go burnLoop()
	log.Printf("cpu-burner %s serving on %s (GOMAXPROCS %d)", version, *listen, runtime.GOMAXPROCS(0))
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
}
