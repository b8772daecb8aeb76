// etcd-load: the etcd side of bench/compare.sh. It does the work redis-benchmark does
// against the RESP servers -- PUT or linearizable GET of 100-byte values on keys drawn
// uniformly from 100,000 -- with N concurrent clients, and prints one JSON line with the
// throughput and the p50/p99 latency, so etcd and the RESP servers fill one table.
//
// etcd's own `benchmark` tool is not packaged by Debian, so this is built offline from
// Debian's clientv3 sources (golang-etcd-server-dev):
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go build -o etcd-load .
//
// Each client is a goroutine issuing one request at a time (closed loop, like a
// redis-benchmark connection without -P); clients share --conns gRPC connections
// round-robin, as etcd's benchmark does. Keys are "key:%012d", redis-benchmark's -r form.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/clientv3"
)

type options struct {
	endpoints  []string
	op         string
	clients    int
	conns      int
	requests   int64
	keys       int
	valueBytes int
	timeout    time.Duration
}

// result is the JSON line on stdout; latencies are in milliseconds.
type result struct {
	Tool       string  `json:"tool"`
	Op         string  `json:"op"`
	Clients    int     `json:"clients"`
	Conns      int     `json:"conns"`
	Requests   int64   `json:"requests"`
	Errors     int64   `json:"errors"`
	DurationS  float64 `json:"duration_s"`
	Throughput float64 `json:"throughput_rps"`
	P50Ms      float64 `json:"p50_ms"`
	P99Ms      float64 `json:"p99_ms"`
	MaxMs      float64 `json:"max_ms"`
	FirstError string  `json:"first_error,omitempty"`
}

func parseOptions() (options, error) {
	var o options
	endpoints := flag.String("endpoints", "", "comma-separated client URLs (required)")
	flag.StringVar(&o.op, "op", "put", "put, or get (linearizable)")
	flag.IntVar(&o.clients, "clients", 1, "concurrent clients, each one request at a time")
	flag.IntVar(&o.conns, "conns", 0, "gRPC connections shared by the clients (default: min(clients, 10))")
	flag.Int64Var(&o.requests, "n", 10000, "total requests")
	flag.IntVar(&o.keys, "keys", 100000, "keyspace size")
	flag.IntVar(&o.valueBytes, "value-size", 100, "PUT value bytes")
	flag.DurationVar(&o.timeout, "timeout", 10*time.Second, "per-request timeout")
	flag.Parse()
	if *endpoints == "" {
		return o, fmt.Errorf("--endpoints is required")
	}
	o.endpoints = strings.Split(*endpoints, ",")
	if o.op != "put" && o.op != "get" {
		return o, fmt.Errorf("--op must be put or get, not %q", o.op)
	}
	if o.conns == 0 {
		o.conns = o.clients
		if o.conns > 10 {
			o.conns = 10
		}
	}
	if o.clients < 1 || o.clients > 10000 || o.conns < 1 || o.conns > o.clients {
		return o, fmt.Errorf("need 1 <= --conns <= --clients <= 10000")
	}
	if o.requests < 1 || o.keys < 1 || o.valueBytes < 0 || o.valueBytes > 1<<20 {
		return o, fmt.Errorf("need --n >= 1, --keys >= 1, 0 <= --value-size <= 1 MiB")
	}
	return o, nil
}

// worker is one client's state: its connection, its key stream and what it measured.
type worker struct {
	cli        *clientv3.Client
	rng        *rand.Rand
	latencies  []time.Duration
	errors     int64
	firstError error
}

func (w *worker) run(o *options, value string, issued *int64) {
	for atomic.AddInt64(issued, 1) <= o.requests {
		key := fmt.Sprintf("key:%012d", w.rng.Intn(o.keys))
		ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
		start := time.Now()
		var err error
		if o.op == "put" {
			_, err = w.cli.Put(ctx, key, value)
		} else {
			_, err = w.cli.Get(ctx, key) // linearizable: clientv3's default
		}
		elapsed := time.Since(start)
		cancel()
		if err != nil {
			w.errors++
			if w.firstError == nil {
				w.firstError = err
			}
			continue
		}
		w.latencies = append(w.latencies, elapsed)
	}
}

func quantileMs(sorted []time.Duration, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	return float64(sorted[int(q*float64(len(sorted)-1))]) / 1e6
}

func main() {
	o, err := parseOptions()
	if err != nil {
		fmt.Fprintf(os.Stderr, "etcd-load: %v\n", err)
		os.Exit(2)
	}
	conns := make([]*clientv3.Client, o.conns)
	for i := range conns {
		conns[i], err = clientv3.New(clientv3.Config{Endpoints: o.endpoints, DialTimeout: 5 * time.Second})
		if err != nil {
			fmt.Fprintf(os.Stderr, "etcd-load: connect to %v: %v\n", o.endpoints, err)
			os.Exit(1)
		}
		defer conns[i].Close()
	}
	value := strings.Repeat("x", o.valueBytes)
	workers := make([]*worker, o.clients)
	for i := range workers {
		workers[i] = &worker{cli: conns[i%o.conns], rng: rand.New(rand.NewSource(int64(i + 1)))}
	}
	var issued int64
	var wg sync.WaitGroup
	start := time.Now()
	for _, w := range workers {
		wg.Add(1)
		go func(w *worker) {
			defer wg.Done()
			w.run(&o, value, &issued)
		}(w)
	}
	wg.Wait()
	seconds := time.Since(start).Seconds()

	var all []time.Duration
	r := result{Tool: "etcd-load", Op: o.op, Clients: o.clients, Conns: o.conns, DurationS: seconds}
	for _, w := range workers {
		all = append(all, w.latencies...)
		r.Errors += w.errors
		if w.firstError != nil && r.FirstError == "" {
			r.FirstError = w.firstError.Error()
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	r.Requests = int64(len(all))
	r.Throughput = float64(r.Requests) / seconds
	r.P50Ms = quantileMs(all, 0.50)
	r.P99Ms = quantileMs(all, 0.99)
	r.MaxMs = quantileMs(all, 1.0)
	line, _ := json.Marshal(r)
	fmt.Println(string(line))
	if r.Requests == 0 {
		fmt.Fprintf(os.Stderr, "etcd-load: every request failed: %s\n", r.FirstError)
		os.Exit(1)
	}
}
